//! `GET /metrics`: the process's counters and, read at scrape time, the
//! queue (from the claim's own indexes), the events stored by every path
//! (from Postgres' statistics) and the connection pools, in the
//! OpenMetrics text format that Prometheus scrapes.
//!
//! Two places serve it. On the API's port it is the operator's, like the
//! rest of the operator API: `Authorization: Bearer <API_KEY>` (a tenant
//! token is refused), because that port is usually reachable by tenants.
//! With `METRICS_PORT` it is also served on a port of its own, without
//! authentication, for a scraper on a private network — and for an
//! `outbound worker`, which has no API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::auth::Principal;
use super::error::ApiError;
use super::server::{self, Limits};
use super::AppState;
use crate::store::queue_stats::{self, QueueDepth};
use crate::store::Pool;
use crate::telemetry::{counters, Labels1, Labels2};

/// OpenMetrics 1.0, which Prometheus negotiates and parses natively.
const CONTENT_TYPE_OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A scrape never waits longer than this for the database; without it the
/// database gauges are left out and `outbound_database_up` reads 0.
const DATABASE_WAIT: Duration = Duration::from_secs(5);

/// Serves `/metrics`; built once per process by `app::Application`.
pub struct Metrics {
    exporter: Arc<Exporter>,
    /// The port of its own (`METRICS_PORT`), bound at build time so a port
    /// in use is a start-up error.
    apart: Option<TcpListener>,
}

struct Exporter {
    /// The API's state: its pool, and its operator key for the API port.
    api: AppState,
    worker_pool: Pool,
}

impl Metrics {
    /// Binds `METRICS_PORT` on `host` when it is set.
    pub async fn bind(
        host: &str,
        port: Option<u16>,
        api: AppState,
        worker_pool: Pool,
    ) -> anyhow::Result<Metrics> {
        let apart = match port {
            None => None,
            Some(port) => {
                let addr: SocketAddr = format!("{host}:{port}")
                    .parse()
                    .map_err(|_| anyhow::anyhow!("API_HOST {host:?} is not an IP address"))?;
                let listener = TcpListener::bind(addr).await.map_err(|e| {
                    anyhow::anyhow!("cannot listen on {addr} for metrics (set METRICS_PORT to a free port): {e}")
                })?;
                Some(listener)
            }
        };
        Ok(Metrics {
            exporter: Arc::new(Exporter { api, worker_pool }),
            apart,
        })
    }

    /// Where `METRICS_PORT` listens, if it is set.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.apart.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// `GET /metrics` for the API's router, for the operator only.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/metrics", get(operator_metrics))
            .with_state(self.exporter.clone())
    }

    /// Serves `/metrics` on `METRICS_PORT` until `cancel` fires; None
    /// without it.
    pub fn serve_apart(
        &mut self,
        limits: Limits,
        cancel: CancellationToken,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let listener = self.apart.take()?;
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("metrics on http://{addr}/metrics");
        }
        let router = Router::new()
            .route("/metrics", get(open_metrics))
            .with_state(self.exporter.clone());
        Some(server::serve(listener, router, limits, cancel))
    }
}

async fn operator_metrics(State(exporter): State<Arc<Exporter>>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let admin = Principal::from_request_parts(&mut parts, &exporter.api)
        .await
        .and_then(|p| p.require_admin());
    match admin {
        Ok(()) => open_metrics(State(exporter)).await,
        Err(err) => err.into_response(),
    }
}

async fn open_metrics(State(exporter): State<Arc<Exporter>>) -> Response {
    match exporter.render().await {
        Ok(text) => ([(CONTENT_TYPE, CONTENT_TYPE_OPENMETRICS)], text).into_response(),
        Err(err) => ApiError::internal(&err).into_response(),
    }
}

impl Exporter {
    async fn render(&self) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::default();
        counters().register(&mut registry);
        self.register_pools(&mut registry);
        let up = match tokio::time::timeout(DATABASE_WAIT, self.read_database()).await {
            Ok(Ok((depth, stored))) => {
                register_database(&mut registry, depth, stored);
                1
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "metrics: cannot read the queue");
                0
            }
            Err(_) => {
                tracing::warn!("metrics: the database did not answer in time");
                0
            }
        };
        let database_up: Gauge = Gauge::default();
        database_up.set(up);
        registry.register(
            "outbound_database_up",
            "1 when this scrape could read the database's figures, 0 when not",
            database_up,
        );
        let mut text = String::new();
        encode(&mut text, &registry)?;
        Ok(text)
    }

    async fn read_database(&self) -> Result<(QueueDepth, i64), crate::store::StoreError> {
        let client = self.api.pool.get().await?;
        let depth = queue_stats::queue_depth(&client, None).await?;
        let stored = queue_stats::events_stored(&client).await?;
        Ok((depth, stored))
    }

    fn register_pools(&self, registry: &mut Registry) {
        let connections: Family<Labels2, Gauge> = Family::default();
        let waiting: Family<Labels1, Gauge> = Family::default();
        let max: Family<Labels1, Gauge> = Family::default();
        for (name, pool) in [("api", &self.api.pool), ("worker", &self.worker_pool)] {
            let s = pool.status();
            let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            connections
                .get_or_create(&[("pool", name), ("state", "in_use")])
                .set(gauge(s.size.saturating_sub(s.available)));
            connections
                .get_or_create(&[("pool", name), ("state", "idle")])
                .set(gauge(s.available));
            waiting
                .get_or_create(&[("pool", name)])
                .set(gauge(s.waiting));
            max.get_or_create(&[("pool", name)]).set(gauge(s.max_size));
        }
        registry.register(
            "outbound_db_pool_connections",
            "Database connections of this process's pools (api: API and maintenance; worker: delivery), in use or idle",
            connections,
        );
        registry.register(
            "outbound_db_pool_waiting",
            "Callers waiting for a database connection, by pool",
            waiting,
        );
        registry.register(
            "outbound_db_pool_max_connections",
            "The most connections a pool opens",
            max,
        );
    }
}

fn register_database(registry: &mut Registry, depth: QueueDepth, stored: i64) {
    let queue: Family<Labels1, Gauge> = Family::default();
    for (state, n) in [
        ("due", depth.due),
        ("lease_expired", depth.lease_expired),
        ("parked", depth.parked),
        ("leased", depth.leased),
        ("scheduled", depth.scheduled),
        ("held", depth.held),
    ] {
        queue.get_or_create(&[("state", state)]).set(n);
    }
    registry.register(
        "outbound_queue_deliveries",
        "Deliveries in the queue by state (due, lease_expired and parked are waiting to be sent, held wait for their destination to be enabled; counted up to 10000 each)",
        queue,
    );
    let age: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    age.set(depth.oldest_due_age_secs);
    registry.register_with_unit(
        "outbound_queue_oldest_due_age",
        "How long the oldest due delivery has waited past its time (0 when none is due)",
        Unit::Seconds,
        age,
    );
    registry.register(
        "outbound_events_stored",
        "Events stored by every path (HTTP and SQL) and process, from Postgres' statistics",
        ConstCounter::new(u64::try_from(stored).unwrap_or(0)),
    );
}
