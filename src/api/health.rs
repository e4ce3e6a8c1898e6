//! `GET /healthz`: 200 when the database answers and every component is
//! working, 503 otherwise — answered within a bounded time even while the
//! database is unreachable, so orchestrators never see a hang.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use super::AppState;
use crate::store::queries;

const DB_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let db_ok = tokio::time::timeout(DB_CHECK_TIMEOUT, ping(&state))
        .await
        .unwrap_or(false);
    let mut workers = Map::new();
    let status = |ok: bool| json!({ "status": if ok { "healthy" } else { "failed" } });
    workers.insert("http-server".into(), status(true));
    workers.insert("database".into(), status(db_ok));
    let mut all_ok = db_ok;
    for (name, ok) in state.components.snapshot() {
        all_ok &= ok;
        workers.insert(name, status(ok));
    }
    let code = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if all_ok { "healthy" } else { "failed" },
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "workers": workers,
    });
    (code, Json(body))
}

async fn ping(state: &AppState) -> bool {
    let Ok(client) = state.pool.get().await else {
        return false;
    };
    client.query_one(queries::HEALTH_PING, &[]).await.is_ok()
}
