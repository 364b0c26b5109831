//! Data to sync: seeded candidates, invitations and reports, listed page by page as
//! Checkr lists them, and changed over time or through the `/_sim` control endpoints.

mod common;

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use checkr_sim::{AccountSeed, SimConfig};
use common::{Api, TOKEN, basic, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Every item of a listing, following `next_href` from `path`.
async fn list_all(api: &Api, path: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut next = Some(path.to_string());
    while let Some(url) = next {
        let resp = api.get(TOKEN, &url).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        let body = resp.json();
        pages += 1;
        items.extend(body["data"].as_array().expect("data").iter().cloned());
        next = body["next_href"].as_str().map(str::to_string);
    }
    (items, pages)
}

fn seeded(n: usize) -> SimConfig {
    SimConfig::default()
        .with_token(TOKEN, AccountSeed::new("Acme Staffing"))
        .with_seed_candidates(n)
}

#[tokio::test]
async fn seeded_candidates_list_over_pages_newest_first_with_invitations_and_reports() {
    let (_sim, api) = start_with(seeded(250)).await;
    let (candidates, pages) = list_all(&api, "/v1/candidates?per_page=100").await;
    assert_eq!(pages, 3);
    assert_eq!(candidates.len(), 250);
    let ids: HashSet<&str> = candidates.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids.len(), 250, "every candidate exactly once");
    let created: Vec<&str> = candidates
        .iter()
        .map(|c| c["created_at"].as_str().expect("created_at"))
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(candidates[0]["object"], "candidate");
    assert!(
        candidates[0]["email"]
            .as_str()
            .is_some_and(|e| e.contains('@'))
    );

    let (invitations, _) = list_all(&api, "/v1/invitations?per_page=100").await;
    assert_eq!(
        invitations.len(),
        200,
        "four in five candidates are invited"
    );
    let count = |status: &str| invitations.iter().filter(|i| i["status"] == status).count();
    assert_eq!(
        (count("pending"), count("completed"), count("expired")),
        (50, 100, 50)
    );

    // Each completed invitation's report is readable and listed on its candidate.
    let completed: Vec<&Value> = invitations
        .iter()
        .filter(|i| i["status"] == "completed")
        .collect();
    let mut statuses = HashSet::new();
    for invitation in completed.iter().take(10) {
        let report_id = invitation["report_id"].as_str().expect("report_id");
        let report = api.get(TOKEN, &format!("/v1/reports/{report_id}")).await;
        assert_eq!(report.status, StatusCode::OK);
        let report = report.json();
        statuses.insert(report["status"].as_str().unwrap_or_default().to_string());
        let candidate = candidates
            .iter()
            .find(|c| c["id"] == invitation["candidate_id"])
            .expect("candidate");
        assert!(
            candidate["report_ids"]
                .as_array()
                .is_some_and(|ids| ids.contains(&json!(report_id)))
        );
    }
    assert_eq!(
        statuses.len(),
        2,
        "pending and complete reports: {statuses:?}"
    );

    // Incremental listing: nothing is newer than the newest candidate.
    let newest = created[0];
    let (newer, _) = list_all(&api, &format!("/v1/candidates?created_after={newest}")).await;
    assert!(newer.is_empty());
}

#[tokio::test]
async fn control_endpoints_change_the_data() {
    let (sim, api) = start_with(seeded(10)).await;
    let (invitations, _) = list_all(&api, "/v1/invitations").await;
    let pending: Vec<&str> = invitations
        .iter()
        .filter(|i| i["status"] == "pending")
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(pending.len(), 2);

    // Expire one invitation, complete the other.
    let expired = api
        .post(
            TOKEN,
            &format!("/_sim/invitations/{}/expire", pending[0]),
            json!({}),
        )
        .await;
    assert_eq!(expired.status, StatusCode::OK, "{}", expired.text);
    assert_eq!(expired.json()["status"], "expired");
    let again = api
        .post(
            TOKEN,
            &format!("/_sim/invitations/{}/expire", pending[0]),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.error().contains("not pending"), "{}", again.text);
    let completed = api
        .post(
            TOKEN,
            &format!("/_sim/invitations/{}/complete", pending[1]),
            json!({}),
        )
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.text);
    let report_id = completed.json()["report_id"]
        .as_str()
        .expect("report")
        .to_string();

    // Complete its report.
    let bad = api
        .post(
            TOKEN,
            &format!("/_sim/reports/{report_id}/complete"),
            json!({ "result": "maybe" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.error().contains("result"), "{}", bad.text);
    let done = api
        .post(
            TOKEN,
            &format!("/_sim/reports/{report_id}/complete"),
            json!({ "result": "consider" }),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.json()["status"], "complete");
    assert_eq!(done.json()["result"], "consider");
    let shown = api
        .get(TOKEN, &format!("/v1/reports/{report_id}"))
        .await
        .json();
    assert_eq!(shown["status"], "complete");

    // Delete a candidate: gone from the listings, with its invitation.
    let victim = invitations[0]["candidate_id"]
        .as_str()
        .expect("candidate")
        .to_string();
    let deleted = api
        .delete(TOKEN, &format!("/_sim/candidates/{victim}"))
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(
        api.get(TOKEN, &format!("/v1/candidates/{victim}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let (after, _) = list_all(&api, "/v1/invitations").await;
    assert_eq!(after.len(), invitations.len() - 1);
    assert_eq!(
        api.delete(TOKEN, &format!("/_sim/candidates/{victim}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Seed more, churn once.
    let more = api
        .post(TOKEN, "/_sim/seed", json!({ "candidates": 5 }))
        .await;
    assert_eq!(more.status, StatusCode::OK, "{}", more.text);
    assert_eq!(more.json()["candidates"], 14);
    let bad = api
        .post(TOKEN, "/_sim/seed", json!({ "candidates": -1 }))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.error().contains("candidates"), "{}", bad.text);
    let churned = api.post(TOKEN, "/_sim/churn", json!({})).await;
    assert_eq!(churned.status, StatusCode::OK, "{}", churned.text);
    let churned = churned.json();
    let created = churned["candidate_created"].as_str().expect("created");
    assert_eq!(
        api.get(TOKEN, &format!("/v1/candidates/{created}"))
            .await
            .status,
        StatusCode::OK
    );
    let updated = churned["candidate_updated"].as_str().expect("updated");
    assert!(
        sim.events()
            .iter()
            .any(|e| e["type"] == "candidate.updated" && e["data"]["object"]["id"] == updated)
    );

    // The control endpoints need the account's token, and only touch its data.
    let anonymous = api.send(api.client.post(api.url("/_sim/churn"))).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    sim.add_token("other", AccountSeed::new("Other Co"));
    let foreign = api
        .post(
            "other",
            &format!("/_sim/reports/{report_id}/complete"),
            json!({}),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hooks_seed_churn_expire_and_delete() {
    let (sim, api) =
        start_with(SimConfig::default().with_token(TOKEN, AccountSeed::default())).await;
    assert!(sim.seed_candidates(TOKEN, 20));
    assert!(!sim.seed_candidates("nobody", 1));
    let (candidates, _) = list_all(&api, "/v1/candidates?per_page=7").await;
    assert_eq!(candidates.len(), 20);
    let changed = sim.churn(TOKEN).expect("churn");
    assert!(changed["report_completed"].is_string());
    let (invitations, _) = list_all(&api, "/v1/invitations?status=pending").await;
    let pending = invitations[0]["id"].as_str().expect("id");
    assert!(sim.expire_invitation(TOKEN, pending));
    assert!(!sim.expire_invitation(TOKEN, pending));
    let victim = candidates[0]["id"].as_str().expect("id");
    assert!(sim.delete_candidate(TOKEN, victim));
    assert!(!sim.delete_candidate(TOKEN, victim));
}

#[tokio::test]
async fn churn_runs_by_itself_when_configured() {
    let (_sim, api) = start_with(seeded(10).with_churn_every(Duration::from_millis(50))).await;
    let before = api.get(TOKEN, "/v1/candidates").await.json()["count"].as_u64();
    let mut after = before;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = api.get(TOKEN, "/v1/candidates").await.json()["count"].as_u64();
        if after > before {
            break;
        }
    }
    assert!(after > before, "{before:?} -> {after:?}");
}

#[tokio::test]
async fn the_binary_seeds_with_a_flag() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_checkr-sim"))
        .args(["--port", "0", "--token", "t", "--seed-candidates", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("join")
    .expect("line");
    let url = line
        .trim_end()
        .trim_start_matches("checkr-sim listening on ")
        .to_string();
    let body: Value = reqwest::Client::new()
        .get(format!("{url}/v1/candidates?per_page=100"))
        .header("authorization", basic("t"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!(body["count"], 120);
    assert_eq!(body["data"].as_array().map(Vec::len), Some(100));
    assert!(
        body["next_href"]
            .as_str()
            .is_some_and(|next| next.contains("page=2"))
    );
}

#[tokio::test]
async fn a_large_seed_pages_to_its_last_page() {
    let (_sim, api) = start_with(seeded(20_000)).await;
    let first = api.get(TOKEN, "/v1/candidates?per_page=100").await.json();
    let last = api
        .get(TOKEN, "/v1/candidates?per_page=100&page=200")
        .await
        .json();
    let beyond = api
        .get(TOKEN, "/v1/candidates?per_page=100&page=201")
        .await
        .json();
    assert_eq!(first["count"], 20_000);
    assert_eq!(last["count"], 20_000);
    assert_eq!(last["data"].as_array().map(Vec::len), Some(100));
    assert!(last["next_href"].is_null());
    assert!(
        last["previous_href"]
            .as_str()
            .is_some_and(|previous| previous.contains("page=199"))
    );
    assert_eq!(beyond["data"].as_array().map(Vec::len), Some(0));
    let oldest_on_first = first["data"][99]["created_at"]
        .as_str()
        .expect("created_at");
    let newest_on_last = last["data"][0]["created_at"].as_str().expect("created_at");
    assert!(
        oldest_on_first >= newest_on_last,
        "newest first across pages"
    );
}
