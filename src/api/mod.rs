//! HTTP: the router and one file per resource.

pub mod health;

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

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub components: Arc<Components>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/api/v1/healthz", get(health::healthz))
        .with_state(state)
}
