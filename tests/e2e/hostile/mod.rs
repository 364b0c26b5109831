//! The hostile-guest corpus (`tests/guests`) against the real host: every attack ends in
//! a typed error, and the same host answers a benign action promptly *while* the attack
//! runs. Figures are printed (run with `--nocapture`) and recorded in RELIABILITY.md.

mod crashes;
mod floods;
mod headers;
mod memory;
mod runaway;
mod ssrf;

use crate::support::*;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use terapi_runtime::{ActionOutput, TriggerError};

/// How long a benign action may take while an attack runs. Generous: a benign run takes
/// milliseconds, and a host that waited for the attack would take its whole deadline.
pub const BENIGN_BOUND: Duration = Duration::from_secs(2);

/// The deadline of the attacks that only a deadline stops: far above [`BENIGN_BOUND`],
/// so a benign run that waited for the attack would fail the bound.
pub const ATTACK_DEADLINE_MS: u64 = 3_000;

/// An attack's result and what a benign run saw meanwhile.
pub struct Attacked<T> {
    /// What the attack ended in.
    pub result: T,
    /// How long the benign run took.
    pub benign: Duration,
    /// When the benign run finished, from the attack's start.
    pub benign_done_at: Duration,
    /// How long the attack ran.
    pub took: Duration,
}

/// Runs `attack` on its own task and, 200 ms into it, a benign `echo` on this one; checks
/// the benign run succeeded within [`BENIGN_BOUND`].
pub async fn during<T, Fut>(
    harness: &Arc<Harness>,
    attack: impl FnOnce(Arc<Harness>) -> Fut,
) -> Attacked<T>
where
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let started = Instant::now();
    let attack = tokio::spawn(attack(harness.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let benign_started = Instant::now();
    let input = r#"{"benign":true}"#;
    let output = harness
        .runtime
        .trigger_action(GUESTS, CONNECTION, "echo", input)
        .await
        .expect("the benign action succeeds during the attack");
    assert_eq!(output.as_json(), input);
    let benign = benign_started.elapsed();
    let benign_done_at = started.elapsed();
    let result = attack.await.expect("the attack's task completes");
    let took = started.elapsed();
    assert!(
        benign < BENIGN_BOUND,
        "a benign action took {benign:?} during the attack"
    );
    Attacked {
        result,
        benign,
        benign_done_at,
        took,
    }
}

/// Runs the test guests' `action` with `input` (JSON).
pub async fn attack(
    harness: Arc<Harness>,
    action: &'static str,
    input: serde_json::Value,
) -> Result<ActionOutput, TriggerError> {
    harness
        .runtime
        .trigger_action(GUESTS, CONNECTION, action, &input.to_string())
        .await
}

/// A harness whose runaway attacks stop at [`ATTACK_DEADLINE_MS`], shared with tasks.
pub async fn harness_with(adjust: impl FnOnce(&mut terapi_runtime::RuntimeConfig)) -> Arc<Harness> {
    Arc::new(
        Harness::start_with(|config| {
            config.limits.invocation_timeout_ms = ATTACK_DEADLINE_MS;
            adjust(config);
        })
        .await,
    )
}

/// The `http_error` kind in an action error's payload (what the guest SDK puts there).
pub fn http_error(error: &TriggerError) -> &str {
    match error {
        TriggerError::Action {
            payload: Some(payload),
            ..
        } => payload["http_error"].as_str().unwrap_or_default(),
        other => panic!("expected an action error, got {other:?}"),
    }
}

/// Asserts `error` is the deadline stopping `action`.
pub fn assert_timeout(error: &TriggerError, action: &str) {
    assert_eq!(
        *error,
        TriggerError::Timeout {
            action: action.into(),
            timeout: Duration::from_millis(ATTACK_DEADLINE_MS),
        }
    );
}
