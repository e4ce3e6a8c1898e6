//! Payload transformations: checked when a destination is saved, and
//! previewed against an event (a catalog sample by default) for a saved
//! destination or for one being set up.
//!
//! `POST /tenants/{tenant_id}/destinations/{destination_id}/transform/preview`
//! and `POST /tenants/{tenant_id}/transform/preview` take
//! `{"transform"?, "event"?: {"topic"?, "data"?, "metadata"?}, "topics"?,
//! "delivery_metadata"?}` and answer what the destination would be sent:
//! `{"topic", "body", "metadata"}`. A program that fails answers 422 with
//! what went wrong, as the attempt log would store it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::error::ApiError;
use super::extract::{Body, Db, DestinationScope, TenantScope};
use super::tenants::ensure_tenant;
use super::AppState;
use crate::domain::delivery_policy::DeliveryPolicy;
use crate::domain::metadata::{string_map, MessageMetadata};
use crate::domain::transform::Transform;
use crate::store::destinations as store;
use crate::transform::EventInput;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/tenants/{tenant_id}/destinations/{destination_id}/transform/preview",
            post(preview_saved),
        )
        .route("/tenants/{tenant_id}/transform/preview", post(preview_new))
}

/// Compiles a policy's transformation, if it has one: 422 naming each bad
/// program and where (`delivery_policy.transform.body: line 1, column 3: …`).
pub async fn check_policy(state: &AppState, policy: &DeliveryPolicy) -> Result<(), ApiError> {
    match &policy.transform {
        None => Ok(()),
        Some(t) => check(state, t).await,
    }
}

async fn check(state: &AppState, t: &Transform) -> Result<(), ApiError> {
    let errors = state
        .transformer
        .check(t)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    match errors.is_empty() {
        true => Ok(()),
        false => Err(ApiError::validation(errors)),
    }
}

/// A preview's request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The programs to try; absent: the destination's own (none for a new
    /// one). `null` or `{}`: none.
    #[serde(default, deserialize_with = "present")]
    transform: Option<Value>,
    event: Option<PreviewEvent>,
    /// The topics the destination takes (for the default sample); absent:
    /// the saved destination's, or every topic.
    topics: Option<Vec<String>>,
    /// absent: the saved destination's.
    #[serde(default, deserialize_with = "present")]
    delivery_metadata: Option<Value>,
}

/// Some(value) for a member that is present, null included.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewEvent {
    topic: Option<String>,
    /// absent: the topic's sample from the catalog.
    data: Option<Value>,
    metadata: Option<Value>,
}

/// What a destination sets up, as far as a preview needs it.
struct Setup {
    topics: Vec<String>,
    delivery_metadata: Option<Value>,
    transform: Option<Transform>,
}

/// A saved destination's transformation (or the one sent) on an event.
async fn preview_saved(
    State(state): State<AppState>,
    d: DestinationScope,
    Db(db): Db,
    Body(body): Body<PreviewRequest>,
) -> Result<Json<Value>, ApiError> {
    let row = store::get(&db, &d.scope.tenant, &d.id).await?;
    let saved = Setup {
        topics: row.topics.clone(),
        delivery_metadata: row.delivery_metadata.clone(),
        transform: row.policy.transform.clone(),
    };
    preview(&state, saved, body).await.map(Json)
}

/// A transformation for a destination not saved yet (the new-destination
/// form).
async fn preview_new(
    State(state): State<AppState>,
    s: TenantScope,
    Db(db): Db,
    Body(body): Body<PreviewRequest>,
) -> Result<Json<Value>, ApiError> {
    ensure_tenant(&db, &s.tenant).await?;
    let nothing = Setup {
        topics: vec!["*".into()],
        delivery_metadata: None,
        transform: None,
    };
    preview(&state, nothing, body).await.map(Json)
}

async fn preview(state: &AppState, saved: Setup, body: PreviewRequest) -> Result<Value, ApiError> {
    let mut errors = Vec::new();
    let transform = match &body.transform {
        None => saved.transform,
        Some(v) => Transform::read(v, true, &mut errors),
    };
    let delivery_metadata = match &body.delivery_metadata {
        None => saved.delivery_metadata,
        Some(v) => string_map("delivery_metadata", Some(v)).unwrap_or_else(|e| {
            errors.extend(e);
            None
        }),
    };
    let topics = body.topics.unwrap_or(saved.topics);
    let event = body.event.unwrap_or_default();
    let metadata = string_map("event.metadata", event.metadata.as_ref())
        .unwrap_or_else(|e| {
            errors.extend(e);
            None
        })
        .unwrap_or_else(|| json!({}));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if let Some(t) = &transform {
        check(state, t).await?;
    }
    // The event: as sent, or the catalog's sample for its topic (or for
    // the first topic the destination takes that has one).
    let (topic, data) = match event.data {
        Some(data) if !data.is_object() => {
            return Err(ApiError::unprocessable("event.data must be a JSON object"))
        }
        Some(data) => {
            let topic = event
                .topic
                .or_else(|| topics.iter().find(|t| !t.contains('*')).cloned())
                .ok_or_else(|| ApiError::unprocessable("event.topic is required"))?;
            (topic, data)
        }
        None => {
            let entry = state
                .catalog
                .test_sample(&topics, event.topic.as_deref())
                .map_err(|e| {
                    ApiError::unprocessable(format!("{e}; send the event's data as event.data"))
                })?;
            let sample = entry.sample.clone().unwrap_or_else(|| json!({}));
            (entry.name.clone(), sample)
        }
    };
    let now = Utc::now();
    let id = "evt_preview";
    let text = data.to_string();
    let mut sent = MessageMetadata::new(id, &topic, now, delivery_metadata.as_ref(), &metadata);
    let body = match &transform {
        None => data,
        Some(t) => {
            let input = EventInput {
                id,
                topic: &topic,
                time: now,
                metadata: &metadata,
                data: &text,
            };
            // A preview waits its turn for one of the API's runners, and is
            // then held to the same bounds as a delivery.
            let deadline = Instant::now() + std::time::Duration::from_secs(10);
            let out = state
                .transformer
                .run(t, input, deadline)
                .await
                .map_err(|f| match f.permanent {
                    true => ApiError::unprocessable(f.message),
                    false => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, f.message),
                })?;
            out.merge_into(&mut sent);
            match out.body {
                None => data,
                Some(b) => serde_json::from_str(&b).map_err(|e| ApiError::internal(&e))?,
            }
        }
    };
    let metadata: Map<String, Value> = sent
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect();
    Ok(json!({ "topic": topic, "body": body, "metadata": metadata }))
}
