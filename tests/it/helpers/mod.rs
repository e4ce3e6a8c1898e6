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

use hmac::{Hmac, Mac};

/// HMAC-SHA256 of `body` with `key`, in hex: what a signature header carries.
pub fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

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
