//! Syncs: what a component says about them, Nango's frequency syntax, and the
//! `fetch-data` and `on-webhook` export calls that run one.
//!
//! A run gets a fresh sandbox through [`Sandboxes::call`] like an action, with its own
//! deadline (`limits.sync_timeout_ms`) and the `records`, `checkpoint` and `metadata`
//! capabilities bound to its [`SyncRun`]. Batches commit as the guest saves them; when
//! the run succeeds, track-deletes is applied for the models whose
//! `track-deletes-end` was reached, and only then. A webhook handler (`on-webhook`) runs
//! the same way with one event; track-deletes belongs to full listings, not to a handler.

use super::sandbox::{ExportCall, Grant, GuestFailure, Sandboxes};
use crate::bindings::integration::IntegrationPre;
use crate::capabilities::log::LogLine;
use crate::capabilities::records::{ModelSchemas, SyncProgress, SyncRun};
use crate::runtime::sandbox::SandboxState;
use crate::schema::InputSchema;
use crate::store::{RecordScope, WriteCounts};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use time::OffsetDateTime;

/// The shortest interval a sync may run at, as in Nango.
pub const MIN_FREQUENCY: Duration = Duration::from_secs(30);

/// A model a sync keeps records of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// Its name, e.g. `Candidate`.
    pub name: String,
    /// JSON Schema of one record.
    pub json_schema: Value,
}

/// A sync a component carries, as it describes itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncInfo {
    /// The name it is run by, e.g. `candidates`.
    pub name: String,
    /// What it does.
    pub description: String,
    /// The models it saves records of.
    pub models: Vec<ModelInfo>,
    /// Its default frequency, in Nango's syntax (`every hour`).
    pub frequency: String,
    /// Whether it starts by itself for every new connection.
    pub auto_start: bool,
    /// Whether it marks records a successful run did not save as deleted.
    pub track_deletes: bool,
    /// The provider webhook event types its `on-webhook` handler applies (`report.*`,
    /// `report.completed`, `*`); empty when it handles none.
    #[serde(default)]
    pub webhook_subscriptions: Vec<String>,
}

impl SyncInfo {
    /// Whether its webhook handler takes events of type `event_type`: a subscription
    /// names the type exactly, ends in `.*` to take every type it prefixes (`report.*`
    /// takes `report.completed`, not `reports.x`), or is `*`.
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.webhook_subscriptions.iter().any(|pattern| {
            pattern == "*"
                || pattern == event_type
                || pattern
                    .strip_suffix('*')
                    .is_some_and(|prefix| prefix.ends_with('.') && event_type.starts_with(prefix))
        })
    }

    /// Its default interval (the frequency was checked when the component loaded).
    pub fn interval(&self) -> Duration {
        parse_frequency(&self.frequency).unwrap_or(Duration::from_secs(3600))
    }
}

/// Parses Nango's frequency syntax: `every 30 minutes`, `every hour`, `every day`,
/// `every 2h`, `30m`, `every 1.5 hours`, `every half hour`... ("every" is optional).
/// Intervals under [`MIN_FREQUENCY`] are refused, as in Nango.
pub fn parse_frequency(text: &str) -> Result<Duration, String> {
    let invalid = |why: &str| {
        format!(
            "invalid frequency `{text}`: {why} (expected e.g. `every 30 minutes`, `every hour`, `every 2h`)"
        )
    };
    let normalized = text.trim().to_ascii_lowercase();
    let rest = normalized
        .strip_prefix("every")
        .map(str::trim_start)
        .unwrap_or(&normalized);
    let (half, rest) = match ["half an ", "half a ", "half "]
        .iter()
        .find_map(|prefix| rest.strip_prefix(prefix))
    {
        Some(unit) => (true, unit.trim()),
        None => (false, rest),
    };
    if rest.is_empty() {
        return Err(invalid("no interval"));
    }
    let split = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, unit) = rest.split_at(split);
    let unit = unit.trim();
    let count: f64 = if number.is_empty() {
        1.0
    } else {
        number
            .parse()
            .map_err(|_| invalid(&format!("`{number}` is not a number")))?
    };
    if half && !number.is_empty() {
        return Err(invalid("`half` takes no number"));
    }
    let seconds: f64 = match unit {
        "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 0.001,
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        "" => return Err(invalid("no unit")),
        other => return Err(invalid(&format!("unknown unit `{other}`"))),
    };
    let total = count * seconds * if half { 0.5 } else { 1.0 };
    if !total.is_finite() || total > 366.0 * 86_400.0 {
        return Err(invalid("longer than a year"));
    }
    let interval = Duration::from_secs_f64(total);
    if interval < MIN_FREQUENCY {
        return Err(invalid("the minimum is 30 seconds"));
    }
    Ok(interval)
}

/// The syncs a component carries and how to run them.
pub(crate) struct SyncExports {
    pub(crate) pre: IntegrationPre<SandboxState>,
    pub(crate) infos: Vec<SyncInfo>,
    /// Each sync's compiled model schemas, in the order of `infos`; compiled at load when
    /// the component was asked, else at the sync's first run (like actions' inputs).
    schemas: Vec<OnceLock<Result<Arc<ModelSchemas>, String>>>,
}

impl SyncExports {
    pub(crate) fn new(
        pre: IntegrationPre<SandboxState>,
        infos: Vec<SyncInfo>,
        compiled: Option<Vec<Arc<ModelSchemas>>>,
    ) -> Self {
        let schemas = match compiled {
            Some(compiled) => compiled
                .into_iter()
                .map(|c| OnceLock::from(Ok(c)))
                .collect(),
            None => infos.iter().map(|_| OnceLock::new()).collect(),
        };
        SyncExports {
            pre,
            infos,
            schemas,
        }
    }

    /// The compiled model schemas of the sync at `index` in `infos`.
    pub(crate) fn schemas(&self, index: usize) -> Result<Arc<ModelSchemas>, String> {
        self.schemas[index]
            .get_or_init(|| compile_models(&self.infos[index]).map(Arc::new))
            .clone()
    }
}

/// Checks what a component says about its syncs: names unique, frequencies valid,
/// models named once with usable schemas. Returns the compiled schemas.
pub(crate) fn check_syncs(infos: &[SyncInfo]) -> Result<Vec<Arc<ModelSchemas>>, String> {
    let mut compiled = Vec::with_capacity(infos.len());
    for (index, info) in infos.iter().enumerate() {
        if info.name.is_empty() {
            return Err(format!("sync {index} has an empty name"));
        }
        if infos[..index].iter().any(|known| known.name == info.name) {
            return Err(format!("the component declares sync `{}` twice", info.name));
        }
        parse_frequency(&info.frequency)
            .map_err(|error| format!("sync `{}`: {error}", info.name))?;
        for pattern in &info.webhook_subscriptions {
            check_subscription(pattern)
                .map_err(|why| format!("sync `{}`: webhook subscription {why}", info.name))?;
        }
        compiled.push(Arc::new(compile_models(info)?));
    }
    Ok(compiled)
}

/// Longest webhook subscription accepted.
const MAX_SUBSCRIPTION: usize = 200;

/// Why a webhook subscription pattern is unusable, if it is: it must be `*`, an event type
/// (`report.completed`) or a prefix ending in `.*` (`report.*`), printable ASCII without
/// spaces.
fn check_subscription(pattern: &str) -> Result<(), String> {
    let shown: String = pattern.chars().take(40).collect();
    if pattern.is_empty() || pattern.len() > MAX_SUBSCRIPTION {
        return Err(format!(
            "`{shown}` must be 1 to {MAX_SUBSCRIPTION} characters"
        ));
    }
    if !pattern.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(format!(
            "`{}` must be printable ASCII without spaces",
            shown.escape_default()
        ));
    }
    let wildcards = pattern.matches('*').count();
    let well_placed = pattern == "*" || (pattern.ends_with(".*") && pattern.len() > 2);
    if wildcards > 1 || (wildcards == 1 && !well_placed) {
        return Err(format!(
            "`{shown}` may only use `*` alone or as a last segment (`report.*`)"
        ));
    }
    Ok(())
}

fn compile_models(info: &SyncInfo) -> Result<ModelSchemas, String> {
    if info.models.is_empty() {
        return Err(format!("sync `{}` declares no model", info.name));
    }
    let mut schemas = ModelSchemas::new();
    for model in &info.models {
        if model.name.is_empty() {
            return Err(format!(
                "sync `{}` declares a model with an empty name",
                info.name
            ));
        }
        let schema = InputSchema::compile(model.json_schema.clone())
            .map_err(|error| format!("sync `{}`, model `{}`: {error}", info.name, model.name))?;
        if schemas.insert(model.name.clone(), schema).is_some() {
            return Err(format!(
                "sync `{}` declares model `{}` twice",
                info.name, model.name
            ));
        }
    }
    Ok(schemas)
}

/// Why a sync run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum SyncError {
    /// No integration is configured under this key.
    #[error("unknown integration `{key}`; configured: {}", known.join(", "))]
    UnknownIntegration {
        /// The key asked for.
        key: String,
        /// The keys configured.
        known: Vec<String>,
    },
    /// The integration's component has no such sync.
    #[error("integration `{integration}` has no sync `{sync}`; it has: {}", available.join(", "))]
    UnknownSync {
        /// The integration.
        integration: String,
        /// The sync asked for.
        sync: String,
        /// The syncs it has.
        available: Vec<String>,
    },
    /// No connection with this id exists for the integration.
    #[error("unknown connection `{connection_id}` for integration `{integration}`")]
    UnknownConnection {
        /// The integration.
        integration: String,
        /// The connection asked for.
        connection_id: String,
    },
    /// The connection was revoked at the provider; nothing ran.
    #[error(
        "connection `{connection_id}` of integration `{integration}` was revoked at the provider; connect it again"
    )]
    ConnectionRevoked {
        /// The integration.
        integration: String,
        /// The connection.
        connection_id: String,
    },
    /// The sync failed on purpose (an `ActionError`), e.g. a rejected record.
    #[error("sync `{sync}` failed: {message}")]
    Failed {
        /// The sync.
        sync: String,
        /// Its message.
        message: String,
        /// Its payload.
        payload: Option<Value>,
    },
    /// The run passed its deadline and was stopped.
    #[error("sync `{sync}` did not finish within {timeout:?} and was stopped")]
    Timeout {
        /// The sync.
        sync: String,
        /// The deadline.
        timeout: Duration,
    },
    /// The guest tried to grow its memory beyond the cap and was stopped.
    #[error("sync `{sync}` exceeded its memory limit of {limit} bytes and was stopped")]
    MemoryLimitExceeded {
        /// The sync.
        sync: String,
        /// The cap.
        limit: usize,
    },
    /// The guest crashed (panic, trap).
    #[error("sync `{sync}` crashed: {message}")]
    Crashed {
        /// The sync.
        sync: String,
        /// What happened.
        message: String,
    },
    /// The run never started: the host was at capacity. It runs again soon.
    #[error("sync `{sync}` was not started: {message}")]
    Overloaded {
        /// The sync.
        sync: String,
        /// Why, with the limits involved.
        message: String,
        /// How long to wait before trying again, in seconds.
        retry_after_secs: u64,
    },
    /// The run was stopped because the host shut down; what it saved stays, and the next
    /// run resumes from its checkpoint.
    #[error("sync `{sync}` was interrupted by a shutdown; it resumes from its checkpoint")]
    Interrupted {
        /// The sync.
        sync: String,
    },
    /// A failure of the host itself (store, engine).
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a sync run did: its result, what it changed per model (also when it failed:
/// batches it saved before failing stay saved), and its run log.
#[derive(Debug)]
pub struct SyncOutcome {
    /// `Ok` when `fetch-data` returned successfully.
    pub result: Result<(), SyncError>,
    /// Changes per model (every declared model appears, with zeros if untouched),
    /// track-deletes included.
    pub counts: BTreeMap<String, WriteCounts>,
    /// When it started.
    pub started_at: OffsetDateTime,
    /// When it ended.
    pub finished_at: OffsetDateTime,
    /// What the guest logged and printed.
    pub logs: Vec<LogLine>,
}

/// Which of a sync's exports a run calls.
#[derive(Debug, Clone)]
pub(crate) enum SyncCall {
    /// `fetch-data`: a scheduled or triggered run.
    FetchData,
    /// `on-webhook` with this event (JSON text).
    OnWebhook(Arc<str>),
}

/// Calls `fetch-data` (then applies track-deletes if it succeeded) or `on-webhook` for
/// the sync at `index` in a fresh sandbox.
pub(crate) async fn run(
    sandboxes: &Sandboxes,
    exports: &SyncExports,
    index: usize,
    mut grant: Grant,
    run: Arc<SyncRun>,
    timeout: Duration,
    what: SyncCall,
) -> (Result<(), SyncError>, Vec<LogLine>) {
    let name = exports.infos[index].name.clone();
    grant.sync = Some(run.clone());
    let pre = exports.pre.clone();
    let sync = name.clone();
    let webhook = matches!(what, SyncCall::OnWebhook(_));
    let call: ExportCall<_> = Box::new(move |store| {
        Box::pin(async move {
            let instance = pre.instantiate_async(&mut *store).await?;
            match what {
                SyncCall::FetchData => instance.call_fetch_data(&mut *store, &sync).await,
                SyncCall::OnWebhook(event) => {
                    instance
                        .call_on_webhook(&mut *store, &sync, &event.to_string())
                        .await
                }
            }
        })
    });
    let called = sandboxes.call(grant, timeout, call).await;
    let result = match called.result {
        Ok(Ok(())) if webhook => Ok(()),
        Ok(Ok(())) => apply_track_deletes(&run).await,
        Ok(Err(error)) => Err(SyncError::Failed {
            sync: name,
            message: error.message,
            payload: error
                .payload
                .map(|payload| serde_json::from_str(&payload).unwrap_or(Value::String(payload))),
        }),
        Err(GuestFailure::Timeout(timeout)) => Err(SyncError::Timeout {
            sync: name,
            timeout,
        }),
        Err(GuestFailure::MemoryLimitExceeded(limit)) => {
            Err(SyncError::MemoryLimitExceeded { sync: name, limit })
        }
        Err(GuestFailure::Crashed(message)) => Err(SyncError::Crashed {
            sync: name,
            message,
        }),
        Err(GuestFailure::Overloaded(overloaded)) => Err(SyncError::Overloaded {
            sync: name,
            message: overloaded.message,
            retry_after_secs: overloaded.retry_after_secs,
        }),
    };
    (result, called.logs)
}

/// Marks deleted what the run did not save, for each model whose track-deletes ended.
async fn apply_track_deletes(run: &SyncRun) -> Result<(), SyncError> {
    for model in run.progress.track_deletes_ended() {
        let scope = RecordScope::new(&run.provider_config_key, &run.connection_id, &model);
        let counts = run
            .records
            .delete_records_not_seen_by(&scope, &run.run_id)
            .await
            .map_err(|error| SyncError::Internal(format!("track-deletes of `{model}`: {error}")))?;
        run.progress.record_host_write(&model, counts);
    }
    Ok(())
}

/// A fresh progress for a run of `info`, listing its models.
pub(crate) fn new_progress(info: &SyncInfo) -> Arc<SyncProgress> {
    let progress = Arc::new(SyncProgress::default());
    progress.declare(info.models.iter().map(|model| model.name.clone()));
    progress
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nango_frequencies_parse() {
        let cases = [
            ("every 30 minutes", 1800),
            ("every hour", 3600),
            ("every day", 86_400),
            ("every 2h", 7200),
            ("30m", 1800),
            ("every 1 hour", 3600),
            ("Every 5 Minutes", 300),
            ("every half hour", 1800),
            ("every 1.5 hours", 5400),
            ("every 30s", 30),
            ("every week", 604_800),
            ("every 2 days", 172_800),
        ];
        for (text, seconds) in cases {
            assert_eq!(
                parse_frequency(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_frequencies_say_why() {
        for (text, why) in [
            ("every 10 seconds", "minimum is 30 seconds"),
            ("every", "no interval"),
            ("", "no interval"),
            ("every 5 fortnights", "unknown unit `fortnights`"),
            ("every 5", "no unit"),
            ("every 1.2.3h", "not a number"),
            ("every 1000 weeks", "longer than a year"),
        ] {
            let error = parse_frequency(text).expect_err(text);
            assert!(
                error.contains(why) && error.contains(text),
                "{text}: {error}"
            );
        }
    }

    fn info(name: &str, frequency: &str, models: Vec<ModelInfo>) -> SyncInfo {
        SyncInfo {
            name: name.into(),
            description: String::new(),
            models,
            frequency: frequency.into(),
            auto_start: true,
            track_deletes: false,
            webhook_subscriptions: Vec::new(),
        }
    }

    #[test]
    fn webhook_subscriptions_match_types_prefixes_or_everything() {
        let mut sync = info("reports", "every hour", vec![model("Report")]);
        assert!(!sync.subscribes_to("report.completed"), "none by default");
        sync.webhook_subscriptions = vec!["report.*".into(), "candidate.created".into()];
        for (event_type, expected) in [
            ("report.completed", true),
            ("report.created", true),
            ("candidate.created", true),
            ("candidate.updated", false),
            ("reports.completed", false),
            ("report", false),
            ("invitation.completed", false),
        ] {
            assert_eq!(sync.subscribes_to(event_type), expected, "{event_type}");
        }
        sync.webhook_subscriptions = vec!["*".into()];
        assert!(sync.subscribes_to("anything.at_all"));
    }

    #[test]
    fn unusable_webhook_subscriptions_are_refused_at_load() {
        for good in ["*", "report.*", "report.completed", "a.b.*"] {
            let mut sync = info("reports", "every hour", vec![model("Report")]);
            sync.webhook_subscriptions = vec![good.into()];
            assert!(check_syncs(&[sync]).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("", "1 to 200 characters"),
            ("report*", "last segment"),
            ("*.completed", "last segment"),
            ("report.**", "last segment"),
            (".*", "last segment"),
            ("report .*", "printable ASCII"),
            ("report.\n*", "printable ASCII"),
        ] {
            let mut sync = info("reports", "every hour", vec![model("Report")]);
            sync.webhook_subscriptions = vec![bad.into()];
            let error = check_syncs(&[sync]).expect_err(bad);
            assert!(
                error.contains("sync `reports`: webhook subscription") && error.contains(why),
                "{bad}: {error}"
            );
        }
    }

    fn model(name: &str) -> ModelInfo {
        ModelInfo {
            name: name.into(),
            json_schema: serde_json::json!({ "type": "object" }),
        }
    }

    #[test]
    fn sync_descriptions_are_checked() {
        assert!(check_syncs(&[info("a", "every hour", vec![model("A")])]).is_ok());
        let cases = [
            (
                vec![info("a", "every 5s", vec![model("A")])],
                "sync `a`: invalid frequency",
            ),
            (
                vec![
                    info("a", "every hour", vec![model("A")]),
                    info("a", "every hour", vec![model("B")]),
                ],
                "sync `a` twice",
            ),
            (vec![info("a", "every hour", vec![])], "declares no model"),
            (
                vec![info("a", "every hour", vec![model("A"), model("A")])],
                "model `A` twice",
            ),
            (
                vec![info(
                    "a",
                    "every hour",
                    vec![ModelInfo {
                        name: "A".into(),
                        json_schema: serde_json::json!(7),
                    }],
                )],
                "model `A`",
            ),
            (
                // A model schema is as untrusted as an action's: a pattern only a
                // backtracking engine runs is refused, naming the sync and the model.
                vec![info(
                    "a",
                    "every hour",
                    vec![ModelInfo {
                        name: "A".into(),
                        json_schema: serde_json::json!({
                            "properties": { "id": { "type": "string", "pattern": "^(?=x)" } }
                        }),
                    }],
                )],
                "sync `a`, model `A`: the schema is not usable",
            ),
            (
                vec![info(
                    "a",
                    "every hour",
                    vec![ModelInfo {
                        name: "A".into(),
                        json_schema: serde_json::json!({
                            "properties": { "children": { "items": { "$ref": "#" } } },
                            "anyOf": [{ "$ref": "#/$defs/B" }],
                            "$defs": { "B": { "allOf": [{ "$ref": "#/$defs/B" }] } }
                        }),
                    }],
                )],
                "sync `a`, model `A`: the schema is refused: `#/$defs/B` is part of a `$ref` cycle",
            ),
        ];
        for (infos, why) in cases {
            let error = check_syncs(&infos).expect_err(why);
            assert!(error.contains(why), "{why}: {error}");
        }
    }
}
