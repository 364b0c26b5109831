//! `terapi serve`: the HTTP API, wire-compatible with Nango's public REST API so clients
//! written for Nango work unchanged.
//!
//! A layer on top of [`Runtime`]: the runtime stays embeddable without it. Every
//! endpoint requires `Authorization: Bearer <secret key>` (compared in constant time)
//! except the OAuth browser endpoints (`/oauth/connect/...`, which takes the secret key
//! *or* a signed link, and `/oauth/callback`, which takes a single-use state).
//!
//! | Endpoint | Module |
//! | --- | --- |
//! | `POST /action/trigger`, `GET /action/{id}` | `actions.rs` |
//! | `GET /connections`, `GET`/`DELETE /connections/{id}`, `POST`/`PATCH /connections/metadata` | `connections.rs` |
//! | `GET /integrations`, `GET`/`PATCH /integrations/{key}` | `integrations.rs` |
//! | any method on `/proxy/{endpoint...}` | `proxy.rs` |
//! | `GET /oauth/connect/{key}`, `GET /oauth/callback` | `oauth.rs` |
//! | `GET /scripts/config` | `scripts.rs` |
//! | `GET /records` | `records.rs` |
//! | `POST /sync/trigger`, `/sync/start`, `/sync/pause`, `GET /sync/status`, `PUT /sync/update-connection-frequency` | `syncs.rs` |
//!
//! Errors are always JSON: `{"error":{"code":"...","message":"..."}}` ([`errors`]).

mod actions;
mod auth;
mod connections;
pub mod errors;
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod inbound;
mod integrations;
mod oauth;
mod proxy;
mod records;
mod scripts;
mod syncs;
mod webhooks;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use errors::ApiError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use terapi_runtime::service::{Service, ServiceError, ServiceOptions};
use terapi_runtime::{Runtime, RuntimeConfig};
use time::OffsetDateTime;
use tower_http::catch_panic::CatchPanicLayer;

pub use terapi_runtime::service::{EnvLookup, process_env};

/// Largest request body accepted (action input, proxied body).
const MAX_REQUEST_BODY: usize = 10 << 20;

/// How to start the server, beyond the configuration file.
#[derive(Clone)]
pub struct ServeOptions {
    /// Store credentials unencrypted when no encryption key is configured (local
    /// development only). Without it, a missing key stops the server from starting.
    pub insecure_dev: bool,
    /// Listen here instead of `server.listen`.
    pub listen: Option<SocketAddr>,
    /// Where `TERAPI_SECRET_KEY`, `TERAPI_ENCRYPTION_KEY` and client secrets come from.
    pub env: EnvLookup,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            insecure_dev: false,
            listen: None,
            env: process_env(),
        }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("insecure_dev", &self.insecure_dev)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

/// Why the server did not start. Messages name the setting; they never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting is missing or invalid, or the runtime or the stores did not start.
    #[error("{0}")]
    Config(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl From<ServiceError> for ServeError {
    fn from(error: ServiceError) -> Self {
        ServeError::Config(error.message)
    }
}

/// Shared by every request.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

struct Inner {
    service: Service,
    /// The service's runtime (always started for the server).
    runtime: Arc<Runtime>,
    secret_key: auth::SecretKey,
    /// For the proxy without `Decompress: true`: passes compressed bodies through.
    raw_client: reqwest::Client,
}

impl AppState {
    pub(crate) fn service(&self) -> &Service {
        &self.0.service
    }

    pub(crate) fn runtime(&self) -> &Arc<Runtime> {
        &self.0.runtime
    }

    pub(crate) fn secret_key(&self) -> &auth::SecretKey {
        &self.0.secret_key
    }

    pub(crate) fn raw_client(&self) -> &reqwest::Client {
        &self.0.raw_client
    }

    pub(crate) fn started_at(&self) -> OffsetDateTime {
        self.0.service.started_at()
    }
}

/// A bound, ready server.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
    state: AppState,
    addr: SocketAddr,
    /// The sync scheduler, running while the server lives (unless
    /// `server.sync_scheduler` is off).
    scheduler: Option<terapi_runtime::service::SchedulerHandle>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the listening socket, opens the (encrypted) connection store, starts the
    /// runtime and resolves the OAuth apps. Without `server.public_url`, the public URL
    /// is `http://<bound address>`.
    ///
    /// Refuses to start without a secret key (`TERAPI_SECRET_KEY` or
    /// `server.secret_key`), and without an encryption key (`TERAPI_ENCRYPTION_KEY` or
    /// `server.encryption_key`) unless `options.insecure_dev`.
    pub async fn bind(config: RuntimeConfig, options: ServeOptions) -> Result<Server, ServeError> {
        let secret = terapi_runtime::service::keys::secret_key(&config, &options.env)?;
        // Checked before binding, so a misconfigured server fails without taking the port
        // (with --insecure-dev nothing can be missing; the service warns once).
        if !options.insecure_dev {
            terapi_runtime::service::keys::credential_cipher(&config, &options.env, false)?;
        }
        let addr = options.listen.unwrap_or(config.server.listen);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let mut config = config;
        if config.server.public_url.is_none() {
            // The address actually bound (port 0 picks one), for redirect URIs and links.
            config.server.public_url = Some(format!("http://{addr}"));
        }
        let service = Service::start(
            config,
            ServiceOptions {
                insecure_dev: options.insecure_dev,
                env: options.env,
            },
        )
        .await?;
        let raw_client = terapi_runtime::outbound::client(false).map_err(ServeError::Config)?;
        let runtime = service
            .runtime()
            .cloned()
            .ok_or_else(|| ServeError::Config("the runtime did not start".into()))?;
        let scheduler = if service.config().server.sync_scheduler {
            Some(service.start_scheduler()?)
        } else {
            None
        };
        let state = AppState(Arc::new(Inner {
            service,
            runtime,
            secret_key: auth::SecretKey::new(&secret),
            raw_client,
        }));
        Ok(Server {
            listener,
            router: router(state.clone()),
            state,
            addr,
            scheduler,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then shuts down gracefully within
    /// `server.shutdown_grace_ms`: the listener is closed at once (new connections are
    /// refused), in-flight requests, asynchronous runs and sync runs get until the
    /// deadline to finish, the webhook worker finishes its attempts in flight. Work still
    /// going at the deadline is stopped: sync runs record themselves as interrupted (due
    /// again at once, to resume from their checkpoints), asynchronous runs end with an
    /// error, requests are dropped. Meanwhile delivers webhooks from the outbox (when a
    /// webhook URL is configured) and runs the syncs' handlers of the provider webhooks
    /// received (a handler cut short stays in the outbox and runs again after its lease).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.state.service().config().server.shutdown_grace();
        let (deadline_tx, deadline_rx) = tokio::sync::watch::channel(None);
        let worker_state = self.state.clone();
        let mut worker_stop = deadline_rx.clone();
        let mut worker = tokio::spawn(async move {
            worker_state
                .service()
                .run_webhook_deliveries(async move {
                    let _ = worker_stop.wait_for(Option::is_some).await;
                })
                .await;
        });
        let handler_state = self.state.clone();
        let mut handlers_stop = deadline_rx.clone();
        let mut handlers = tokio::spawn(async move {
            handler_state
                .service()
                .run_webhook_handlers(async move {
                    let _ = handlers_stop.wait_for(Option::is_some).await;
                })
                .await;
        });
        let signal_state = self.state.clone();
        let served = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            shutdown.await;
            let deadline = tokio::time::Instant::now() + grace;
            tracing::info!(
                grace_ms = grace.as_millis() as u64,
                "shutting down: no new connections; waiting for work in flight"
            );
            signal_state.service().begin_shutdown(deadline);
            let _ = deadline_tx.send(Some(deadline));
        });
        let mut served = std::pin::pin!(served.into_future());
        let mut deadline_rx = deadline_rx;
        let served = tokio::select! {
            served = &mut served => served,
            () = async {
                let deadline = deadline_rx.wait_for(Option::is_some).await.ok().and_then(|d| *d);
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            } => {
                tracing::warn!("requests still in flight at the end of the shutdown grace period are dropped");
                Ok(())
            }
        };
        // Past the grace period, this bounds how long stopped runs may take to record
        // that they were stopped.
        const SETTLE: Duration = Duration::from_secs(5);
        let asked = *deadline_rx.borrow();
        let deadline = match asked {
            Some(deadline) => deadline,
            // The server stopped by itself (an accept error): stop the rest the same way.
            None => {
                let deadline = tokio::time::Instant::now() + grace;
                self.state.service().begin_shutdown(deadline);
                deadline
            }
        };
        if let Some(scheduler) = &self.scheduler
            && !scheduler.shutdown(deadline, SETTLE).await
        {
            tracing::warn!(
                "sync runs did not record their end in time; their leases expire and they resume from their checkpoints"
            );
        }
        if !self
            .state
            .service()
            .wait_for_async_runs(deadline, SETTLE)
            .await
        {
            tracing::warn!("asynchronous runs did not record their end in time");
        }
        // The worker finishes the attempts in flight; anything not delivered stays in
        // the outbox for the next start (or another node).
        match tokio::time::timeout_at(deadline + SETTLE, &mut worker).await {
            Ok(Err(error)) => tracing::error!(%error, "the webhook worker failed"),
            Ok(Ok(())) => {}
            Err(_) => {
                worker.abort();
                tracing::warn!(
                    "webhook deliveries in flight were cut short; they stay due in the outbox"
                );
            }
        }
        match tokio::time::timeout_at(deadline + SETTLE, &mut handlers).await {
            Ok(Err(error)) => tracing::error!(%error, "the webhook handler worker failed"),
            Ok(Ok(())) => {}
            Err(_) => {
                handlers.abort();
                tracing::warn!(
                    "webhook handlers in flight were cut short; their jobs run again after their lease"
                );
            }
        }
        tracing::info!("stopped");
        served
    }
}

/// The application: routes, authentication, JSON errors, panic safety.
fn router(state: AppState) -> Router {
    let authenticated = Router::new()
        .route("/action/trigger", post(actions::trigger))
        .route("/action/{id}", get(actions::status))
        .route("/connections", get(connections::list))
        .route(
            "/connections/metadata",
            post(connections::set_metadata).patch(connections::update_metadata),
        )
        .route(
            "/connections/{connection_id}",
            get(connections::get).delete(connections::delete),
        )
        .route("/integrations", get(integrations::list))
        .route("/metrics", get(health::metrics))
        .route(
            "/integrations/{key}",
            get(integrations::get).patch(integrations::update),
        )
        .route("/proxy/{*endpoint}", any(proxy::proxy))
        .route("/scripts/config", get(scripts::config))
        .route("/webhooks", get(webhooks::list))
        .route("/webhooks/{id}/replay", post(webhooks::replay))
        .route("/records", get(records::list))
        .route("/records/", get(records::list))
        .route("/sync/trigger", post(syncs::trigger))
        .route("/sync/start", post(syncs::start))
        .route("/sync/pause", post(syncs::pause))
        .route("/sync/status", get(syncs::status))
        .route(
            "/sync/update-connection-frequency",
            put(syncs::update_frequency),
        )
        .route_layer(from_fn_with_state(state.clone(), auth::require_secret_key));
    let browser = Router::new()
        .route("/oauth/connect/{key}", get(oauth::connect))
        .route("/oauth/callback", get(oauth::callback));
    // Signed by the provider instead of carrying the secret key; its own body cap.
    let provider_webhooks = Router::new()
        .route("/webhook/{key}", post(inbound::receive))
        .layer(DefaultBodyLimit::max(
            state.service().config().server.webhook_max_body_bytes,
        ));
    Router::new()
        .route("/health", get(health::health))
        .merge(authenticated)
        .merge(browser)
        .merge(provider_webhooks)
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .layer(from_fn(json_errors))
        .layer(CatchPanicLayer::custom(errors::panic_response))
        .with_state(state)
}

/// Rewrites error responses that are not JSON (axum's own rejections: body too large,
/// bad path encoding, ...) into the API's error shape. HTML pages meant for a browser
/// (the OAuth endpoints) and proxied upstream responses are left alone.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<proxy::Proxied>().is_some()
    {
        return response;
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            format!("the request body exceeds {MAX_REQUEST_BODY} bytes"),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("invalid_body", "unsupported content type".to_string())
        }
        status if status.is_client_error() => (
            "invalid_request",
            status
                .canonical_reason()
                .unwrap_or("invalid request")
                .to_string(),
        ),
        _ => (
            "internal_error",
            "the server failed to handle the request".to_string(),
        ),
    };
    ApiError::new(status, code, message).into_response()
}

/// A link that lets a browser start an OAuth connect for one connection without the
/// secret key: `<public_url>/oauth/connect/<key>?connection_id=...&expires=...&signature=...`,
/// valid for `valid_for`. What `terapi connect` prints.
pub fn connect_link(
    config: &RuntimeConfig,
    secret_key: &str,
    provider_config_key: &str,
    connection_id: &str,
    valid_for: Duration,
) -> String {
    let expires = OffsetDateTime::now_utc()
        .unix_timestamp()
        .saturating_add(i64::try_from(valid_for.as_secs()).unwrap_or(i64::MAX));
    let signature =
        auth::SecretKey::new(secret_key).sign_link(provider_config_key, connection_id, expires);
    let encode =
        |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    format!(
        "{}/oauth/connect/{}?connection_id={}&expires={expires}&signature={signature}",
        config.server.public_url(),
        encode(provider_config_key).replace('+', "%20"),
        encode(connection_id),
    )
}
