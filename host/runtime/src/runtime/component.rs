//! Loading a component: compile (or map from the cache), link against the capabilities,
//! and learn what it carries — from the description recorded beside the cache entry, or
//! else by calling its `describe` export in a sandbox (then recording the answer).

use super::action::ActionInfo;
use super::sandbox::{ExportCall, Grant, GuestFailure, SandboxState, Sandboxes};
use super::sync::{ModelInfo, SyncExports, SyncInfo, check_syncs};
use crate::bindings::action::ActionPre;
use crate::bindings::integration::IntegrationPre;
use crate::capabilities::connection::ConnectionState;
use crate::engine::ComponentCache;
use crate::outbound::HttpPolicy;
use crate::schema::InputSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wasmtime::component::Linker;

/// How long a component may take to describe itself.
///
/// `describe` serializes a handful of JSON Schemas; the Checkr component answers in well
/// under a millisecond. Ten seconds only stops a component that loops at load, which
/// would otherwise hang the host's start.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A component, compiled and linked once, instantiated per invocation.
pub(crate) struct LoadedComponent {
    pub(crate) path: PathBuf,
    /// The `action` world: how to instantiate it and the actions it carries.
    pub(crate) actions: ActionExports,
    /// The `integration` world's syncs, when the component is of that world (a
    /// component of world `action` carries none).
    pub(crate) syncs: Option<SyncExports>,
}

/// The action world's exports of a component.
pub(crate) struct ActionExports {
    pub(crate) pre: ActionPre<SandboxState>,
    pub(crate) infos: Vec<ActionInfo>,
    /// Each action's compiled input schema, in the order of `infos`.
    ///
    /// A start from a recorded description leaves compiling to each action's first
    /// invocation (compiling all eleven Checkr schemas costs as much as the rest of a
    /// cached start: BENCHMARKS.md, P4). A description is only recorded after all its
    /// schemas compiled, so a lazy compile does not fail in practice.
    validators: Vec<OnceLock<Result<InputSchema, String>>>,
}

impl ActionExports {
    /// The compiled input schema of the action at `index` in `infos`.
    pub(crate) fn input_schema(&self, index: usize) -> Result<&InputSchema, &str> {
        self.validators[index]
            .get_or_init(|| InputSchema::compile(self.infos[index].input_schema.clone()))
            .as_ref()
            .map_err(String::as_str)
    }
}

/// The format of the description recorded beside a cached component.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedDescription {
    format: u32,
    actions: Vec<ActionInfo>,
    /// `None`: a component of world `action`.
    syncs: Option<Vec<SyncInfo>>,
}

/// 2: syncs recorded beside the actions.
const DESCRIPTION_FORMAT: u32 = 2;

/// Loads the component at `path`.
pub(crate) async fn load(
    sandboxes: &Sandboxes,
    cache: &ComponentCache,
    linker: &Linker<SandboxState>,
    path: &Path,
    policy: Arc<HttpPolicy>,
) -> anyhow::Result<LoadedComponent> {
    let started = std::time::Instant::now();
    let cached = cache.load(sandboxes.engine(), path)?;
    let loaded = started.elapsed();
    // A component importing what the host does not grant (`wasi:http`, `wasi:sockets`, a
    // filesystem it was not given...) is refused here, and with it the host's start: an
    // integration silently missing from a running server would fail every call made to it
    // later and far from the cause, while an operator starting the server sees this at once,
    // with wasmtime's detail naming the import.
    let pre = linker.instantiate_pre(&cached.component).map_err(|error| {
        anyhow::anyhow!("it needs imports the host does not provide to components: {error:#}")
    })?;
    // A component of world `integration` exports what `action` does and more, so both
    // views of it are taken; one of world `action` only has the first.
    let integration_pre = IntegrationPre::new(pre.clone()).ok();
    let pre = ActionPre::new(pre).map_err(|error| {
        anyhow::anyhow!("does not implement the terapi `action` or `integration` world: {error:#}")
    })?;
    let recorded = cached.recorded_description().and_then(|text| {
        match serde_json::from_str::<RecordedDescription>(&text) {
            Ok(recorded) if recorded.format == DESCRIPTION_FORMAT => {
                Some((recorded.actions, recorded.syncs))
            }
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(component = %path.display(), %error, "ignoring an unreadable recorded description");
                None
            }
        }
    });
    let from_record = recorded.is_some();
    let (infos, validators, syncs) = match recorded {
        Some((infos, sync_infos)) => {
            let validators = infos.iter().map(|_| OnceLock::new()).collect();
            let syncs = match (integration_pre, sync_infos) {
                (Some(pre), Some(sync_infos)) => Some(SyncExports::new(pre, sync_infos, None)),
                _ => None,
            };
            (infos, validators, syncs)
        }
        None => {
            let (infos, validators) = ask_for_actions(sandboxes, &pre, policy.clone()).await?;
            let syncs = match integration_pre {
                Some(pre) => {
                    let sync_infos = ask_for_syncs(sandboxes, &pre, policy).await?;
                    let compiled = check_syncs(&sync_infos).map_err(anyhow::Error::msg)?;
                    Some(SyncExports::new(pre, sync_infos, Some(compiled)))
                }
                None => None,
            };
            let record = RecordedDescription {
                format: DESCRIPTION_FORMAT,
                actions: infos,
                syncs: syncs.as_ref().map(|syncs| syncs.infos.clone()),
            };
            if let Ok(text) = serde_json::to_string(&record) {
                cached.record_description(&text);
            }
            (record.actions, validators, syncs)
        }
    };
    tracing::debug!(
        component = %path.display(),
        actions = infos.len(),
        syncs = syncs.as_ref().map_or(0, |syncs| syncs.infos.len()),
        load_ms = loaded.as_secs_f64() * 1e3,
        link_and_describe_ms = (started.elapsed() - loaded).as_secs_f64() * 1e3,
        described_by = if from_record { "recorded description" } else { "the component" },
        "component ready"
    );
    Ok(LoadedComponent {
        path: path.to_path_buf(),
        actions: ActionExports {
            pre,
            infos,
            validators,
        },
        syncs,
    })
}

/// Asks a component of world `integration` for its syncs (`describe-syncs`, in a
/// sandbox with no connection); the caller checks them.
async fn ask_for_syncs(
    sandboxes: &Sandboxes,
    pre: &IntegrationPre<SandboxState>,
    policy: Arc<HttpPolicy>,
) -> anyhow::Result<Vec<SyncInfo>> {
    let pre = pre.clone();
    let call: ExportCall<_> = Box::new(move |store| {
        Box::pin(async move {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance.call_describe_syncs(&mut *store).await
        })
    });
    let described = call_describing_export(sandboxes, policy, "describe-syncs", call).await?;
    described
        .into_iter()
        .map(|info| {
            let models =
                info.models
                    .into_iter()
                    .map(|model| {
                        let json_schema = serde_json::from_str(&model.json_schema).map_err(|error| {
                        anyhow::anyhow!(
                            "sync `{}`: model `{}` has a JSON Schema that is not JSON: {error}",
                            info.name,
                            model.name
                        )
                    })?;
                        Ok(ModelInfo {
                            name: model.name,
                            json_schema,
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(SyncInfo {
                name: info.name,
                description: info.description,
                models,
                frequency: info.frequency,
                auto_start: info.auto_start,
                track_deletes: info.track_deletes,
                webhook_subscriptions: info.webhook_subscriptions,
            })
        })
        .collect()
}

type Described = (Vec<ActionInfo>, Vec<OnceLock<Result<InputSchema, String>>>);

/// Asks a component what it carries (its `describe` export, in a sandbox with no
/// connection) and compiles each action's input schema, failing on a schema that is not
/// JSON or not a JSON Schema, and on a name declared twice.
async fn ask_for_actions(
    sandboxes: &Sandboxes,
    pre: &ActionPre<SandboxState>,
    policy: Arc<HttpPolicy>,
) -> anyhow::Result<Described> {
    let pre = pre.clone();
    let call: ExportCall<_> = Box::new(move |store| {
        Box::pin(async move {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance.call_describe(&mut *store).await
        })
    });
    let described = call_describing_export(sandboxes, policy, "describe", call).await?;
    let mut infos: Vec<ActionInfo> = Vec::with_capacity(described.len());
    let mut validators = Vec::with_capacity(described.len());
    for info in described {
        let schema = |which: &str, text: &str| {
            serde_json::from_str::<Value>(text).map_err(|error| {
                anyhow::anyhow!(
                    "action `{}` declares an {which} schema that is not JSON: {error}",
                    info.name
                )
            })
        };
        let input_schema = schema("input", &info.input_schema)?;
        let output_schema = schema("output", &info.output_schema)?;
        let validator = InputSchema::compile(input_schema.clone())
            .map_err(|error| anyhow::anyhow!("action `{}`: {error}", info.name))?;
        if infos.iter().any(|known| known.name == info.name) {
            anyhow::bail!("the component declares action `{}` twice", info.name);
        }
        validators.push(OnceLock::from(Ok(validator)));
        infos.push(ActionInfo {
            name: info.name,
            description: info.description,
            input_schema,
            output_schema,
        });
    }
    Ok((infos, validators))
}

/// Calls a component's self-describing export (`describe`, `describe-syncs`) in a sandbox
/// with no connection, under [`DESCRIBE_TIMEOUT`]; a failure names the export.
async fn call_describing_export<R: Send>(
    sandboxes: &Sandboxes,
    policy: Arc<HttpPolicy>,
    export: &str,
    call: ExportCall<R>,
) -> anyhow::Result<R> {
    let grant = Grant {
        connection: ConnectionState::none_connection(),
        policy,
        authorization: None,
        sync: None,
    };
    sandboxes
        .call(grant, DESCRIBE_TIMEOUT, call)
        .await
        .result
        .map_err(|failure| match failure {
            GuestFailure::Timeout(timeout) => {
                anyhow::anyhow!("{export} did not finish within {timeout:?}")
            }
            GuestFailure::MemoryLimitExceeded(limit) => {
                anyhow::anyhow!("{export} exceeded the memory limit of {limit} bytes")
            }
            GuestFailure::Crashed(message) => anyhow::anyhow!("{export} failed: {message}"),
            GuestFailure::Overloaded(overloaded) => anyhow::anyhow!("{export}: {overloaded}"),
        })
}
