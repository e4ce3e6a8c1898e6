//! `POST /publish`: Outpost's publish, through the same table and trigger as
//! SQL inserts (`outbound.publish()`), so both paths fan out identically.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::auth::Principal;
use super::error::ApiError;
use super::AppState;
use crate::domain::ids::{DestinationId, EventId, TenantId};
use crate::store::events::NewEvent;
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
    principal: Principal,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    principal.require_admin()?;
    if body.len() > state.max_event_bytes + 64 * 1024 {
        return Err(ApiError::unprocessable(format!(
            "payload too large: events are limited to {} bytes",
            state.max_event_bytes
        )));
    }
    let req: PublishRequest = serde_json::from_slice(&body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request(format!("malformed JSON: {e}"))
        } else {
            ApiError::unprocessable(e.to_string())
        }
    })?;
    let mut errors = Vec::new();
    let tenant = match req.tenant_id.as_deref() {
        None => {
            errors.push("tenant_id is required".to_string());
            None
        }
        Some(t) => TenantId::parse(t)
            .map_err(|e| errors.push(e.to_string()))
            .ok(),
    };
    let topic = match req.topic.as_deref() {
        None => {
            errors.push("topic is required".to_string());
            None
        }
        Some(t) => state
            .topics
            .check(t)
            .map_err(|e| errors.push(e.to_string()))
            .ok(),
    };
    let data = match req.data {
        None => {
            errors.push("data is required".to_string());
            None
        }
        Some(raw) if !raw.get().trim_start().starts_with('{') => {
            errors.push("data must be a JSON object".to_string());
            None
        }
        Some(raw) if raw.get().len() > state.max_event_bytes => {
            errors.push(format!(
                "data is larger than {} bytes",
                state.max_event_bytes
            ));
            None
        }
        Some(raw) => Some(raw.get().to_string()),
    };
    let id = match req.id.as_deref() {
        None => None,
        Some(i) => EventId::parse(i)
            .map_err(|e| errors.push(e.to_string()))
            .ok(),
    };
    let destination_id = match req.destination_id.as_deref() {
        None => None,
        Some(d) => DestinationId::parse(d)
            .map_err(|e| errors.push(e.to_string()))
            .ok(),
    };
    let metadata = super::tenants::string_map("metadata", req.metadata.as_ref())
        .map_err(|e| {
            if let Some(Value::Array(a)) = &e.data {
                errors.extend(a.iter().filter_map(|m| m.as_str().map(String::from)));
            }
        })
        .ok()
        .flatten();
    if let (true, Some(t), Some(d)) = (state.validate_schema, &topic, &data) {
        if let Some(entry) = state.catalog.get(t.as_str()) {
            let value: Value = serde_json::from_str(d).unwrap_or(Value::Null);
            errors.extend(entry.violations(&value));
        }
    }
    let (Some(tenant), Some(topic), Some(data)) = (tenant, topic, data) else {
        return Err(ApiError::validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
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
        w.notify_one();
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": published.id,
            "duplicate": published.duplicate,
            "destination_ids": published.destination_ids,
        })),
    ))
}
