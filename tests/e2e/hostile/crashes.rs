//! Guests that crash or answer with something monstrous — a stack overflow, `exit`,
//! `abort`, an output or error of many MiB — all at once on one host: each ends in a
//! typed error with a precise message, and a benign action is served meanwhile.

use super::*;
use serde_json::json;

/// The output cap of these tests; the giant results are 8 times larger.
const OUTPUT_CAP: usize = 1 << 20;
const GIANT: usize = 8 << 20;

fn crashed(error: &TriggerError, action: &str) -> String {
    match error {
        TriggerError::Crashed {
            action: crashed,
            message,
        } if crashed == action => message.clone(),
        other => panic!("expected `{action}` to crash, got {other:?}"),
    }
}

fn too_large(what: &str) -> String {
    format!(
        "it returned {what} of {} bytes; at most {OUTPUT_CAP} are allowed \
         (limits.max_output_bytes)",
        GIANT + 2
    )
}

/// The attacks, each with its input and a check of the error it must end in.
type Check = fn(&TriggerError);

fn attacks() -> Vec<(&'static str, serde_json::Value, Check)> {
    vec![
        ("recurse-forever", json!({}), |error| {
            let message = crashed(error, "recurse-forever");
            assert_eq!(message, "wasm trap: call stack exhausted");
        }),
        ("recurse-forever", json!({ "padded": true }), |error| {
            // The shadow stack sits below the data: running off its end leaves memory.
            let message = crashed(error, "recurse-forever");
            assert_eq!(message, "wasm trap: out of bounds memory access");
        }),
        ("exit", json!({ "code": 3 }), |error| {
            // WASI 0.2's `exit` takes success or failure, not a number: any non-zero
            // status arrives as 1.
            assert_eq!(crashed(error, "exit"), "it called exit with status 1");
        }),
        ("exit", json!({ "code": 0 }), |error| {
            // Exiting "successfully" still produces no output.
            assert_eq!(crashed(error, "exit"), "it called exit with status 0");
        }),
        ("exit", json!({ "abort": true }), |error| {
            let message = crashed(error, "exit");
            assert_eq!(
                message,
                "wasm trap: wasm `unreachable` instruction executed"
            );
        }),
        ("giant-output", json!({ "bytes": GIANT }), |error| {
            assert_eq!(crashed(error, "giant-output"), too_large("an output"));
        }),
        ("giant-error", json!({ "payload_bytes": GIANT }), |error| {
            assert_eq!(crashed(error, "giant-error"), too_large("an error payload"));
        }),
        ("giant-error", json!({ "message_bytes": GIANT }), |error| {
            let TriggerError::Action { message, payload } = error else {
                panic!("expected an action error, got {error:?}");
            };
            assert_eq!(*payload, None);
            assert_eq!(
                *message,
                format!(
                    "{} [truncated: the message was {GIANT} bytes]",
                    "e".repeat(64 << 10)
                )
            );
        }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_and_giant_answers_end_in_typed_errors_while_a_benign_action_is_served() {
    let harness = harness_with(|config| {
        config.limits.max_output_bytes = OUTPUT_CAP;
        // Room to build the giant answers, so the output cap is what stops them.
        config.limits.memory_bytes = 64 << 20;
    })
    .await;
    let attacked = during(&harness, |harness| async move {
        let runs: Vec<_> = attacks()
            .into_iter()
            .map(|(action, input, check)| {
                let harness = harness.clone();
                tokio::spawn(async move {
                    let outcome = attack(harness, action, input.clone()).await;
                    (action, input, check, outcome)
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for run in runs {
            outcomes.push(run.await.expect("task"));
        }
        outcomes
    })
    .await;
    for (action, input, check, outcome) in &attacked.result {
        let error = outcome.as_ref().expect_err(action);
        check(error);
        let shown: String = error.to_string().chars().take(160).collect();
        println!("hostile {action} {input}: {shown}");
    }
    println!(
        "hostile crashes (8 at once): benign echo took {:?} during them",
        attacked.benign
    );
}
