//! Components the host must not trust: one that imports what the host does not grant
//! (`wasi:http`), one whose input schema would cost 2^40 checks per value, and one whose
//! schema is as costly as the host accepts. `terapi serve` refuses the first two at start,
//! naming the integration, the component and what is wrong; with the third it answers
//! everything else promptly while the costliest inputs are being checked.

use crate::server::support::SECRET_KEY;
use crate::support::{CHECKR, component};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The interface the bad component imports; terapi grants outbound HTTP only through
/// `terapi:runtime/http`, under its policy.
const WASI_HTTP: &str = "wasi:http/outgoing-handler@0.2.0";

/// A component (binary format, layer 1) that imports one instance, `name`, exporting one
/// function `handle: func()`, and does nothing else. Hand-encoded so the test needs no
/// toolchain: magic, version, a type section with the instance type, an import section.
fn component_importing(name: &str) -> Vec<u8> {
    let mut out = b"\0asm\x0d\x00\x01\x00".to_vec();
    // Type section (7): one type, an instance type (0x42) with two declarations:
    // type 0 = func() (0x01 = type decl, 0x40 = func, 0 params, 0x01 0x00 = no result);
    // export "handle" (0x04 = export decl, 0x00 = plain name) of sort func (0x01) type 0.
    let mut instance = vec![0x01, 0x42, 0x02, 0x01, 0x40, 0x00, 0x01, 0x00, 0x04, 0x00];
    instance.push(6);
    instance.extend_from_slice(b"handle");
    instance.extend_from_slice(&[0x01, 0x00]);
    out.push(7);
    out.push(u8::try_from(instance.len()).expect("short"));
    out.extend_from_slice(&instance);
    // Import section (10): one import, plain name `name`, of sort instance (0x05) type 0.
    let mut import = vec![0x01, 0x00, u8::try_from(name.len()).expect("short name")];
    import.extend_from_slice(name.as_bytes());
    import.extend_from_slice(&[0x05, 0x00]);
    out.push(10);
    out.push(u8::try_from(import.len()).expect("short"));
    out.extend_from_slice(&import);
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A configuration with the Checkr integration and `extra` (key, component path).
fn write_config(dir: &Path, extra: (&str, &Path)) -> PathBuf {
    let path = dir.join("terapi.toml");
    let text = format!(
        "data_dir = \"data\"\n\n[server]\nlisten = \"127.0.0.1:{}\"\n\n\
         [integrations.{CHECKR}]\ncomponent = \"{}\"\napi_base_url = \"http://127.0.0.1:9\"\n\n\
         [integrations.{}]\ncomponent = \"{}\"\nprovider = \"{CHECKR}\"\n\
         api_base_url = \"http://127.0.0.1:9\"\n",
        free_port(),
        component("checkr_partner").display(),
        extra.0,
        extra.1.display()
    );
    std::fs::write(&path, text).expect("config written");
    path
}

/// Runs `terapi serve --insecure-dev` and expects it to exit by itself within a minute
/// (killing it otherwise): its exit code and stderr.
fn serve_expecting_exit(config: &Path) -> (Option<i32>, String) {
    let stderr = config.with_extension("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_terapi"))
        .arg("--config")
        .arg(config)
        .args(["serve", "--insecure-dev"])
        .env("TERAPI_SECRET_KEY", SECRET_KEY)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("serve starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`terapi serve` kept running with a component it cannot run");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&stderr).expect("stderr");
    (status.code(), text)
}

#[test]
fn serve_refuses_a_component_that_imports_what_the_host_does_not_grant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = dir.path().join("wants-wasi-http.wasm");
    std::fs::write(&wasm, component_importing(WASI_HTTP)).expect("component written");
    let config = write_config(dir.path(), ("wants-http", &wasm));
    let (code, stderr) = serve_expecting_exit(&config);
    eprintln!("{stderr}");
    assert_eq!(code, Some(1), "{stderr}");
    for expected in [
        "integration `wants-http`",
        &wasm.display().to_string(),
        &format!("`{WASI_HTTP}`"),
        "does not provide",
    ] {
        assert!(
            stderr.contains(expected),
            "{expected:?} missing from: {stderr}"
        );
    }
}

#[test]
fn serve_refuses_a_component_whose_input_schema_is_hostile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hostile = component("terapi_hostile_schema");
    let config = write_config(dir.path(), ("hostile", &hostile));
    let started = Instant::now();
    let (code, stderr) = serve_expecting_exit(&config);
    eprintln!("{stderr}");
    assert_eq!(code, Some(1), "{stderr}");
    for expected in [
        "integration `hostile`",
        &hostile.display().to_string(),
        "action `doubling`",
        "subschema evaluations",
        "limit is 1000",
    ] {
        assert!(
            stderr.contains(expected),
            "{expected:?} missing from: {stderr}"
        );
    }
    // Refused by analysis, not after trying: well within the start of a debug build.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// Items in the largest input the host checks against `costly-schema` (510 checks per
/// item, one for the array, at most 2,000,000 per validation).
const COSTLY_ITEMS: usize = 2_000_000 / 510 - 1;
/// Items in the largest invalid input whose problems are all listed (100,000 checks).
const LISTED_ITEMS: usize = 100_000 / 510 - 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_promptly_while_the_costliest_inputs_are_checked() {
    use crate::server::support::{ServerHarness, send};
    use crate::support::GUESTS;
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};

    let harness = std::sync::Arc::new(
        ServerHarness::start_with(checkr_sim::AccountSeed::new("Costly Co"), |config| {
            let mut guests =
                terapi_runtime::IntegrationConfig::new(component("terapi_test_guests"));
            guests.provider = Some(CHECKR.into());
            config.integrations.insert(GUESTS.into(), guests);
        })
        .await,
    );
    let trigger = |harness: &ServerHarness, input: &Value| {
        harness
            .api(Method::POST, "/action/trigger")
            .header("Connection-Id", "nobody")
            .header("Provider-Config-Key", GUESTS)
            .json(&json!({ "action_name": "costly-schema", "input": input }))
    };
    // Valid: every one of the ~2,000,000 checks runs, then the (unknown) connection is
    // looked up. Invalid everywhere: every problem listed. Both are the worst the host
    // accepts to do.
    let valid = Value::Array(vec![json!("x"); COSTLY_ITEMS]);
    let invalid = Value::Array(vec![json!(7); LISTED_ITEMS]);
    let (status, body) = send(trigger(&harness, &valid)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "unknown_connection", "{body}");
    let (status, body) = send(trigger(&harness, &invalid)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_action_input", "{body}");
    // One item more than the budget is refused unchecked, saying why.
    let mut over = valid.clone();
    over.as_array_mut().expect("array").push(json!("x"));
    let (status, body) = send(trigger(&harness, &over)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("too large to check"), "{body}");

    // Eight clients keep sending the costliest inputs while the API is timed.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut attackers = Vec::new();
    for attacker in 0..8 {
        let (harness, stop) = (harness.clone(), stop.clone());
        let input = if attacker % 2 == 0 {
            valid.clone()
        } else {
            invalid.clone()
        };
        attackers.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut sent = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let response = trigger(&harness, &input).send().await.expect("answered");
                assert!(response.status().is_client_error(), "{}", response.status());
                slowest = slowest.max(started.elapsed());
                sent += 1;
            }
            (sent, slowest)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut slowest_listing = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let (status, body) = send(harness.api(Method::GET, "/integrations")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        slowest_listing = slowest_listing.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut checked, mut slowest_check) = (0u32, Duration::ZERO);
    for attacker in attackers {
        let (sent, slowest) = attacker.await.expect("attacker");
        checked += sent;
        slowest_check = slowest_check.max(slowest);
    }
    eprintln!(
        "costliest inputs checked: {checked}; slowest answered in {slowest_check:?}; \
         slowest GET /integrations meanwhile: {slowest_listing:?}"
    );
    assert!(checked >= 8, "{checked}");
    assert!(
        slowest_listing < Duration::from_secs(2),
        "GET /integrations took {slowest_listing:?} while inputs were checked"
    );
}
