//! HTTP: the router and one file per resource.
//!
//! - [`extract`]: what handlers need, parsed and checked (tenant scope,
//!   operator, connection, typed bodies);
//! - [`error`]: the one place that knows status codes;
//! - [`auth`]: operator key and tenant tokens;
//! - one file per resource: [`tenants`], [`destinations`] (with its
//!   [`destination_body`] and [`destination_view`]), [`publish`], [`logs`],
//!   [`metrics`] (the metrics API of the portal), [`health`], [`replays`];
//! - [`prometheus`]: `GET /metrics` for Prometheus.

pub mod auth;
pub mod compress;
pub mod destination_body;
pub mod destination_view;
pub mod destinations;
pub mod error;
pub mod extract;
pub mod filters;
pub mod health;
pub mod logs;
pub mod metrics;
pub mod prometheus;
pub mod publish;
pub mod query;
pub mod replays;
pub mod server;
pub mod subscription;
pub mod tenants;
pub mod transform;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::store::Pool;

/// Components that report whether they are working (the HTTP server, the
/// delivery workers, the maintenance scheduler); `/healthz` lists them.
#[derive(Debug, Default)]
pub struct Components {
    entries: std::sync::Mutex<Vec<(String, Arc<std::sync::atomic::AtomicBool>)>>,
}

impl Components {
    /// Registers a component, healthy at first; the returned flag is its to update.
    pub fn register(&self, name: &str) -> Arc<std::sync::atomic::AtomicBool> {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(true));
        if let Ok(mut entries) = self.entries.lock() {
            entries.push((name.to_string(), flag.clone()));
        }
        flag
    }

    pub fn snapshot(&self) -> Vec<(String, bool)> {
        self.entries
            .lock()
            .map(|e| {
                e.iter()
                    .map(|(n, f)| (n.clone(), f.load(std::sync::atomic::Ordering::Relaxed)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What handlers share; built once by `app::Application`.
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub components: Arc<Components>,
    pub auth: Arc<auth::AuthConfig>,
    pub topics: Arc<crate::domain::topic::TopicList>,
    /// Largest accepted event `data`, in bytes.
    pub max_event_bytes: usize,
    /// How long a client has to send a request body (408 after).
    pub body_read_timeout: std::time::Duration,
    /// Base URL of the portal in links; None: from the request's Host.
    pub public_url: Option<String>,
    /// Encrypts sensitive credentials at rest.
    pub cipher: Arc<crate::destinations::credentials::Cipher>,
    /// `MAX_DESTINATIONS_PER_TENANT`.
    pub max_destinations_per_tenant: i64,
    /// The topic catalog (empty without TOPICS_CATALOG).
    pub catalog: Arc<crate::domain::catalog::Catalog>,
    /// `TOPICS_VALIDATE_SCHEMA`.
    pub validate_schema: bool,
    /// What a destination's delivery policy may ask for (`DELIVERY_POLICY_*`).
    pub policy_bounds: crate::domain::delivery_policy::PolicyBounds,
    /// The destination types this build delivers (the sender registry's):
    /// others are refused at creation and not listed.
    pub deliverable: Arc<[crate::destinations::kind::DestinationKind]>,
    /// Wakes this process's delivery worker after a publish.
    pub wake_worker: Option<Arc<crate::store::wakeups::Wakeup>>,
    /// Gathers concurrent publishes into shared statements.
    pub publisher: crate::store::publisher::Publisher,
    /// Which addresses destinations may reach: URLs whose host is a refused
    /// literal address are refused at create (`DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS`).
    pub network: Arc<crate::domain::ssrf::NetworkPolicy>,
    /// How webhooks are signed (`DESTINATIONS_WEBHOOK_MODE`): new secrets
    /// are made in the form that mode's receivers verify.
    pub webhook_mode: crate::domain::signature::WebhookMode,
    /// Prefix of the headers outbound sets on webhooks, which custom
    /// headers may not use (`DESTINATIONS_WEBHOOK_HEADER_PREFIX`).
    pub header_prefix: String,
    /// Which operator events are emitted (`OPERATOR_EVENTS_TOPICS`): the
    /// destination writes emit tenant.subscription.updated.
    pub operator_topics: crate::domain::operator_event::OperatorTopics,
    /// Checks and previews destinations' payload transformations.
    pub transformer: crate::transform::Transformer,
}

/// outbound's own OpenAPI document, maintained beside the code in
/// `openapi/outbound.json`; a test checks it against the routes served.
pub const OPENAPI: &str = include_str!("../../openapi/outbound.json");

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

/// The largest request body accepted: an event's data at its limit, with
/// room for the rest of a publish request (and anything smaller).
pub fn body_limit(state: &AppState) -> usize {
    state.max_event_bytes * 2 + 1024 * 1024
}

pub fn router(state: AppState) -> Router {
    let limit = body_limit(&state);
    let api = Router::new()
        .route("/healthz", get(health::healthz))
        .merge(tenants::routes())
        .merge(publish::routes())
        .merge(destinations::routes())
        .merge(logs::routes())
        .merge(metrics::routes())
        .merge(filters::routes())
        .merge(replays::routes())
        .merge(transform::routes())
        .route("/openapi.json", get(openapi));
    Router::new()
        .route("/healthz", get(health::healthz))
        .nest("/api/v1", api)
        .fallback(|| async { error::ApiError::not_found("route") })
        .layer(axum::middleware::from_fn(compress::gzip_json))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            limit,
            extract::refuse_oversized,
        ))
        .with_state(state)
}
