//! `POST /publish`: Outpost's publish, through the same table and trigger as
//! SQL inserts (`outbound.publish()`), so both paths fan out identically.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::error::{ApiError, Problems};
use super::extract::{from_json, Operator, RawBody};
use super::AppState;
use crate::domain::event_data;
use crate::domain::ids::{DestinationId, EventId, TenantId};
use crate::domain::metadata::string_map;
use crate::store::events::{NewEvent, Published};
use crate::store::StoreError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/publish", post(publish))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishRequest<'a> {
    id: Option<String>,
    tenant_id: Option<String>,
    destination_id: Option<String>,
    topic: Option<String>,
    eligible_for_retry: Option<bool>,
    time: Option<DateTime<Utc>>,
    metadata: Option<Value>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

async fn publish(
    State(state): State<AppState>,
    _: Operator,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let published = publish_request(&state, &body, None).await?;
    crate::telemetry::published_http(1);
    Ok((StatusCode::ACCEPTED, Json(json!(published))))
}

/// Checks a publish request's JSON text and publishes it: what
/// `POST /publish` does with its body, and what the publish queue
/// (`intake`) does with each message, so both refuse and accept alike.
///
/// `fallback_id` is the event id when the request names none (the queue
/// derives one from the broker's message, so that a redelivered message is
/// a duplicate, not a second event); without either, the database
/// generates one. A client error (4xx) means the request can never be
/// published as it is; a server error may pass on a later try.
pub async fn publish_request(
    state: &AppState,
    body: &[u8],
    fallback_id: Option<EventId>,
) -> Result<Published, ApiError> {
    if body.len() > state.max_event_bytes + 64 * 1024 {
        return Err(ApiError::unprocessable(format!(
            "payload too large: events are limited to {} bytes",
            state.max_event_bytes
        )));
    }
    let req: PublishRequest = from_json(body)?;
    let mut problems = Problems::default();
    let tenant = match req.tenant_id {
        None => {
            problems.push("tenant_id is required");
            None
        }
        Some(t) => problems.take(TenantId::try_from(t)),
    };
    let topic = problems.take(state.topics.check_published(req.topic.as_deref()));
    let data = match req.data {
        None => {
            problems.push("data is required");
            None
        }
        Some(raw) => problems
            .take(event_data::check(raw.get(), state.max_event_bytes))
            .map(|()| raw.get().to_string()),
    };
    let id = req
        .id
        .and_then(|i| problems.take(EventId::try_from(i)))
        .or(fallback_id);
    let destination_id = req
        .destination_id
        .and_then(|d| problems.take(DestinationId::try_from(d)));
    let metadata = match string_map("metadata", req.metadata.as_ref()) {
        Ok(m) => m,
        Err(messages) => {
            problems.extend(messages);
            None
        }
    };
    if let (true, Some(t), Some(d)) = (state.validate_schema, &topic, &data) {
        if let Some(entry) = state.catalog.get(t.as_str()) {
            let value: Value = serde_json::from_str(d).unwrap_or(Value::Null);
            problems.extend(entry.violations(&value));
        }
    }
    let (Some(tenant), Some(topic), Some(data)) = (tenant, topic, data) else {
        return Err(problems.fail());
    };
    problems.check()?;
    let event = NewEvent {
        tenant_id: tenant,
        topic,
        data,
        id,
        metadata,
        time: req.time,
        eligible_for_retry: req.eligible_for_retry.unwrap_or(true),
        destination_id,
    };
    let tenant_id = event.tenant_id.clone();
    let published = state.publisher.publish(event).await.map_err(|e| match e {
        StoreError::MissingReference { .. } => {
            ApiError::unprocessable(format!("tenant {tenant_id} does not exist"))
        }
        other => other.into(),
    })?;
    if let (Some(w), false) = (&state.wake_worker, published.destination_ids.is_empty()) {
        w.signal();
    }
    Ok(published)
}
