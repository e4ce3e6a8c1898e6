//! `POST /filters/match`: does a filter match an event? The portal's
//! filter preview, answered by the same evaluator that defines the filter
//! language (`domain::filter`), so the preview and the fan-out agree. An
//! extension to Outpost's API.

use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Principal;
use super::error::ApiError;
use super::extract::Body;
use super::AppState;
use crate::domain::filter::Filter;

pub fn routes() -> Router<AppState> {
    Router::new().route("/filters/match", post(matches))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchRequest {
    filter: Value,
    event: SampleEvent,
}

/// An event as the filter sees it; what is left out is empty.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleEvent {
    #[serde(default)]
    id: Option<String>,
    topic: String,
    #[serde(default)]
    time: Option<DateTime<Utc>>,
    #[serde(default)]
    metadata: Option<Value>,
    data: Value,
}

async fn matches(_: Principal, Body(req): Body<MatchRequest>) -> Result<Json<Value>, ApiError> {
    let filter =
        Filter::parse(&req.filter).map_err(|e| ApiError::validation(vec![e.to_string()]))?;
    let e = req.event;
    // The envelope the fan-out matches, `time` in the same text form.
    let envelope = json!({
        "id": e.id.unwrap_or_default(),
        "topic": e.topic,
        "time": e.time.unwrap_or_else(Utc::now).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "metadata": e.metadata.unwrap_or_else(|| json!({})),
        "data": e.data,
    });
    Ok(Json(json!({ "matches": filter.matches(&envelope) })))
}
