//! The connection pool. Every wait is bounded: when Postgres is down, callers
//! get `StoreError::Unavailable` within seconds instead of hanging, and once
//! it is back, new connections replace the dead ones by themselves.

use std::time::Duration;

use deadpool_postgres::Hook;
use deadpool_postgres::{HookError, Manager, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

pub use deadpool_postgres::Pool;

use super::StoreError;

/// How long a caller may wait for a connection, and for a new one to open.
const POOL_TIMEOUT: Duration = Duration::from_secs(3);

pub fn connect_pool(url: &str, max_size: usize) -> Result<Pool, StoreError> {
    build(url, max_size, None)
}

/// What every delivery-worker session sets, once, when it connects.
///
/// - `synchronous_commit = off`: a worker writes claims, outcomes and its
///   own registration. If Postgres crashes before those commits are
///   flushed, a delivery is claimed or sent again, which at-least-once
///   delivery allows. Event inserts are not made on these sessions and stay
///   fully durable.
/// - `enable_seqscan = off`: every worker statement is a lookup by key, an
///   index range or a ctid. The queue table's statistics are nearly always
///   wrong for that (a queue drains to a few live rows over many pages, and
///   a fresh deployment starts from empty tables), and a plan cached from
///   them would scan and hash the whole queue on every claim.
/// - `plan_cache_mode = force_generic_plan`: those statements are prepared
///   once and run thousands of times a second. Left to choose, Postgres
///   re-planned the destinations' outcome update on every batch (~0.5 ms a
///   plan, 3–4% of a core under load) for a plan no better than the
///   generic one: unnested arrays joined by primary key. Except on Citus
///   (the citus extension is there), where a claim can be routed to its
///   shard group only once its tenants are known, when it is planned:
///   `force_custom_plan` there.
const WORKER_SESSION: &str = "SET synchronous_commit = off; SET enable_seqscan = off; \
     SET plan_cache_mode = force_generic_plan; \
     DO $$ BEGIN \
         IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN \
             SET plan_cache_mode = force_custom_plan; \
         END IF; \
     END $$";

/// The delivery worker's own small pool (see `WORKER_SESSION`).
pub fn connect_worker_pool(url: &str, max_size: usize) -> Result<Pool, StoreError> {
    build(url, max_size, Some(WORKER_SESSION))
}

fn build(url: &str, max_size: usize, session: Option<&'static str>) -> Result<Pool, StoreError> {
    let mut cfg: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
        StoreError::Unavailable(format!("bad database URL: {e}"))
    })?;
    cfg.connect_timeout(POOL_TIMEOUT);
    if cfg.get_application_name().is_none() {
        cfg.application_name("outbound");
    }
    let manager = Manager::from_config(
        cfg,
        NoTls,
        ManagerConfig {
            // Fast: a closed connection (server restarted) is detected and
            // replaced; an open one is reused without a test query.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let mut builder = Pool::builder(manager);
    if let Some(sql) = session {
        builder = builder.post_create(Hook::async_fn(move |client, _| {
            Box::pin(async move { client.batch_execute(sql).await.map_err(HookError::Backend) })
        }));
    }
    builder
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// `url` (postgres://user:pw@host:port/db?params) pointing at `database`.
pub fn with_database(url: &str, database: &str) -> String {
    // URLs here are postgres://user:pw@host:port/db[?params]
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let prefix = match base.rfind('/') {
        Some(i) if base[..i].contains("://") && i > base.find("://").unwrap_or(0) + 2 => &base[..i],
        _ => base,
    };
    format!("{prefix}/{database}{query}")
}
