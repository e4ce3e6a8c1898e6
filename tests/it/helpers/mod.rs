pub mod app;
pub mod citus;
pub mod cloud;
pub mod cron_cluster;
pub mod db;
pub mod factory;
pub mod fake_service;
pub mod kafka;
pub mod moto;
pub mod rabbitmq;
pub mod receiver;

use std::time::Duration;

/// Polls `check` until it returns Some or `limit` passes. Tests wait for
/// effects this way, never with fixed sleeps.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
