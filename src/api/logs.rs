//! The delivery log over HTTP: events, attempts, manual retry, topics.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::SecondsFormat;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Principal;
use super::error::ApiError;
use super::extract::{Body, Db, DestinationScope};
use super::query::{PageRequest, QueryMap};
use super::{destination_view, AppState};
use crate::domain::ids::{DestinationId, EventId, TenantId};
use crate::domain::topic::Topic;
use crate::store::deliveries::{self, RetryError};
use crate::store::destinations;
use crate::store::logs::{self, AttemptFilter, AttemptRow, EventFilter, EventRow, Key};
use crate::store::{GenericClient, StoreError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", get(list_events))
        .route("/events/{event_id}", get(show_event))
        .route("/attempts", get(list_attempts))
        .route("/attempts/{attempt_id}", get(show_attempt))
        .route(
            "/tenants/{tenant_id}/destinations/{destination_id}/attempts",
            get(list_destination_attempts),
        )
        .route(
            "/tenants/{tenant_id}/destinations/{destination_id}/attempts/{attempt_id}",
            get(show_destination_attempt),
        )
        .route(
            "/tenants/{tenant_id}/destinations/{destination_id}/blocked",
            get(list_blocked),
        )
        .route("/retry", post(retry))
        .route("/skip", post(skip))
        .route("/topics", get(topics))
        .route("/topics/catalog", get(catalog))
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn data_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn event_json(e: &EventRow) -> Value {
    json!({
        "id": e.id,
        "tenant_id": e.tenant_id,
        "matched_destination_ids": e.matched_destination_ids,
        "topic": e.topic,
        "time": rfc3339(e.time),
        "metadata": e.metadata,
        "data": data_json(&e.data),
    })
}

/// An attempt as the API shows it; `destinations` holds the attempts'
/// destinations when `include=destination` asked for them (one that was
/// deleted since is left out, as Outpost does).
fn attempt_json(a: &AttemptRow, q: &QueryMap, destinations: &Destinations) -> Value {
    let mut v = json!({
        "id": a.id.to_string(),
        "tenant_id": a.tenant_id,
        "status": a.status,
        "time": rfc3339(a.time),
        "code": a.code,
        "attempt_number": a.attempt_number,
        "manual": a.manual,
        "event_id": a.event_id,
        "destination_id": a.destination_id,
        // An extension to Outpost's shape: how long the attempt took.
        "duration_ms": a.duration_ms,
    });
    if q.includes("response_data") {
        let headers: Value = a
            .response_headers
            .as_deref()
            .and_then(|h| serde_json::from_str(h).ok())
            .unwrap_or(Value::Null);
        v["response_data"] = match a.response_status {
            Some(status) => {
                json!({ "status_code": status, "body": a.response_body, "headers": headers })
            }
            // No response (a network failure, or a type that is not HTTP):
            // the code, and what went wrong in words.
            None => json!({ "error": a.code, "message": a.response_body }),
        };
    }
    let with_data = q.includes("event.data");
    if with_data || q.includes("event") {
        v["event"] = match &a.event {
            Some(e) => {
                let mut ev = json!({
                    "id": e.id,
                    "tenant_id": e.tenant_id,
                    "destination_id": a.destination_id,
                    "topic": e.topic,
                    "time": rfc3339(e.time),
                    "eligible_for_retry": e.eligible_for_retry,
                    "metadata": e.metadata,
                });
                if with_data {
                    ev["data"] = data_json(&e.data);
                }
                ev
            }
            None => Value::Null,
        };
    }
    let key = (a.tenant_id.clone(), a.destination_id.clone());
    if let Some(d) = destinations.get(&key) {
        v["destination"] = d.clone();
    }
    v
}

/// Destinations as the API shows them, by tenant and id.
type Destinations = HashMap<(TenantId, DestinationId), Value>;

/// The destinations of `attempts`, when the query includes `destination`:
/// each read once, shown as `GET …/destinations/{id}` shows it, with its
/// tenant.
async fn included_destinations(
    state: &AppState,
    db: &impl GenericClient,
    attempts: &[AttemptRow],
    q: &QueryMap,
) -> Result<Destinations, ApiError> {
    let mut shown = Destinations::new();
    if !q.includes("destination") {
        return Ok(shown);
    }
    for a in attempts {
        let key = (a.tenant_id.clone(), a.destination_id.clone());
        if shown.contains_key(&key) {
            continue;
        }
        match destinations::get(db, &a.tenant_id, &a.destination_id).await {
            Ok(row) => {
                // With the credentials masked as everywhere: Outpost's newest
                // Python SDK expects none, but its newest TypeScript SDK
                // (1.6.0) refuses a destination without them, and the
                // Python SDK ignores them.
                let mut d = destination_view::render(state, &row)?;
                d["tenant_id"] = json!(a.tenant_id);
                shown.insert(key, d);
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(shown)
}

/// The tenants a caller may see: a tenant token only its own (naming
/// another tenant in `tenant_id` is refused, 403, as every cross-tenant
/// request is); an admin whatever `tenant_id` filters to (or all).
fn tenant_scope(principal: &Principal, q: &QueryMap) -> Result<Option<Vec<TenantId>>, ApiError> {
    match principal {
        Principal::Tenant(t) => {
            let foreign = q
                .list("tenant_id")
                .is_some_and(|l| l.iter().any(|x| x != t.as_str()));
            if foreign {
                return Err(ApiError::forbidden());
            }
            Ok(Some(vec![t.clone()]))
        }
        Principal::Admin => Ok(q.parsed("tenant_id")),
    }
}

/// A tenant token may filter by its own destinations only (403 otherwise,
/// whether the others exist or not).
async fn own_destinations(
    db: &impl GenericClient,
    principal: &Principal,
    ids: Option<&[DestinationId]>,
) -> Result<(), ApiError> {
    if let (Principal::Tenant(t), Some(ids)) = (principal, ids) {
        if !destinations::all_owned(db, t, ids).await? {
            return Err(ApiError::forbidden());
        }
    }
    Ok(())
}

/// The attempt id of a path: `atm_123` or `123`.
fn attempt_id(raw: &str) -> Result<i64, ApiError> {
    raw.trim_start_matches("atm_")
        .parse()
        .map_err(|_| ApiError::not_found("attempt"))
}

async fn list_events(
    principal: Principal,
    Db(db): Db,
    q: QueryMap,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(&q, "time", 100, 1000)?;
    let filter = EventFilter {
        tenants: tenant_scope(&principal, &q)?,
        ids: q.parsed("id"),
        topics: q.list("topic"),
        destinations: q.parsed("destination_id"),
        time: q.time_range("time")?,
    };
    own_destinations(&db, &principal, filter.destinations.as_deref()).await?;
    let rows = logs::list_events(
        &db,
        &filter,
        page.query_descending(),
        page.cursor.as_ref(),
        page.limit + 1,
    )
    .await?;
    let (rows, next, prev) = page.finish(rows, |e| Key {
        time: e.time,
        id: e.id.to_string(),
    });
    Ok(Json(json!({
        "models": rows.iter().map(event_json).collect::<Vec<_>>(),
        "pagination": page.pagination(next, prev),
    })))
}

async fn show_event(
    principal: Principal,
    Db(db): Db,
    Path(id): Path<String>,
    q: QueryMap,
) -> Result<Json<Value>, ApiError> {
    let id = EventId::try_from(id).map_err(|_| ApiError::not_found("event"))?;
    let scope = tenant_scope(&principal, &q)?;
    let e = logs::get_event(&db, &id, scope.as_deref()).await?;
    Ok(Json(event_json(&e)))
}

fn attempt_filter(principal: &Principal, q: &QueryMap) -> Result<AttemptFilter, ApiError> {
    let status = match q.one("status") {
        None => None,
        Some(s @ ("success" | "failed")) => Some(s.to_string()),
        Some(_) => return Err(ApiError::bad_request("status must be success or failed")),
    };
    Ok(AttemptFilter {
        tenants: tenant_scope(principal, q)?,
        event_ids: q.parsed("event_id"),
        destination_ids: q.parsed("destination_id"),
        destination_types: q.parsed("destination_type"),
        status,
        topics: q.list("topic"),
        time: q.time_range("time")?,
    })
}

async fn attempts_page(
    state: &AppState,
    db: &impl GenericClient,
    filter: AttemptFilter,
    q: &QueryMap,
) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(q, "time", 100, 1000)?;
    let rows = logs::list_attempts(
        db,
        &filter,
        page.query_descending(),
        page.cursor.as_ref(),
        page.limit + 1,
    )
    .await
    .map_err(|e| match e {
        StoreError::Invalid { .. } => ApiError::bad_request("invalid cursor"),
        other => other.into(),
    })?;
    let (rows, next, prev) = page.finish(rows, |a| Key {
        time: a.time,
        id: a.id.to_string(),
    });
    let destinations = included_destinations(state, db, &rows, q).await?;
    Ok(Json(json!({
        "models": rows.iter().map(|a| attempt_json(a, q, &destinations)).collect::<Vec<_>>(),
        "pagination": page.pagination(next, prev),
    })))
}

async fn list_attempts(
    State(state): State<AppState>,
    principal: Principal,
    Db(db): Db,
    q: QueryMap,
) -> Result<Json<Value>, ApiError> {
    let filter = attempt_filter(&principal, &q)?;
    own_destinations(&db, &principal, filter.destination_ids.as_deref()).await?;
    attempts_page(&state, &db, filter, &q).await
}

async fn list_destination_attempts(
    State(state): State<AppState>,
    d: DestinationScope,
    Db(db): Db,
    q: QueryMap,
) -> Result<Json<Value>, ApiError> {
    // Another tenant's destination is not found, as on its own routes.
    destinations::get(&db, &d.scope.tenant, &d.id).await?;
    let mut filter = attempt_filter(&d.scope.principal, &q)?;
    filter.tenants = Some(vec![d.scope.tenant]);
    filter.destination_ids = Some(vec![d.id]);
    attempts_page(&state, &db, filter, &q).await
}

/// A destination's blocked deliveries (an extension to Outpost's API): in
/// an ordered destination that blocks after a last failure, each holds its
/// lane until it is retried or skipped (`POST /retry`, `POST /skip`).
async fn list_blocked(d: DestinationScope, Db(db): Db) -> Result<Json<Value>, ApiError> {
    destinations::get(&db, &d.scope.tenant, &d.id).await?;
    let blocked = deliveries::blocked(&db, &d.scope.tenant, &d.id).await?;
    let models: Vec<Value> = blocked
        .iter()
        .map(|b| {
            json!({
                "event_id": b.event_id,
                "destination_id": d.id,
                "topic": b.topic,
                "event_time": rfc3339(b.event_time),
                "key": b.lane,
                "attempts": b.attempts,
            })
        })
        .collect();
    Ok(Json(json!({ "models": models })))
}

/// The attempt, if the caller may see it (404 otherwise).
async fn find_attempt(
    db: &impl GenericClient,
    principal: &Principal,
    raw_id: &str,
    q: &QueryMap,
) -> Result<AttemptRow, ApiError> {
    let a = logs::get_attempt(db, attempt_id(raw_id)?).await?;
    let visible = match tenant_scope(principal, q)? {
        Some(ts) => ts.contains(&a.tenant_id),
        None => true,
    };
    if visible {
        Ok(a)
    } else {
        Err(ApiError::not_found("attempt"))
    }
}

async fn show_attempt(
    State(state): State<AppState>,
    principal: Principal,
    Db(db): Db,
    Path(id): Path<String>,
    q: QueryMap,
) -> Result<Json<Value>, ApiError> {
    let a = find_attempt(&db, &principal, &id, &q).await?;
    let destinations = included_destinations(&state, &db, std::slice::from_ref(&a), &q).await?;
    Ok(Json(attempt_json(&a, &q, &destinations)))
}

async fn show_destination_attempt(
    State(state): State<AppState>,
    d: DestinationScope,
    Db(db): Db,
    Path(params): Path<std::collections::HashMap<String, String>>,
    q: QueryMap,
) -> Result<Json<Value>, ApiError> {
    let id = params.get("attempt_id").map_or("", String::as_str);
    let a = find_attempt(&db, &d.scope.principal, id, &q).await?;
    if a.tenant_id != d.scope.tenant || a.destination_id != d.id {
        return Err(ApiError::not_found("attempt"));
    }
    let destinations = included_destinations(&state, &db, std::slice::from_ref(&a), &q).await?;
    Ok(Json(attempt_json(&a, &q, &destinations)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryRequest {
    event_id: String,
    destination_id: String,
}

/// A manual retry of one delivery, now.
async fn retry(
    principal: Principal,
    Db(db): Db,
    Body(req): Body<RetryRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = match &principal {
        Principal::Tenant(t) => Some(t),
        Principal::Admin => None,
    };
    let event_id = EventId::try_from(req.event_id).map_err(|_| ApiError::not_found("event"))?;
    let destination_id = DestinationId::try_from(req.destination_id)
        .map_err(|_| ApiError::not_found("destination"))?;
    // The event must be visible to the caller; the destination is one of
    // the event's tenant.
    let scope = tenant.map(std::slice::from_ref);
    let owner = match logs::get_event(&db, &event_id, scope).await {
        Ok(e) => e.tenant_id,
        Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("event")),
        Err(e) => return Err(e.into()),
    };
    match deliveries::retry_now(&db, &event_id, &destination_id, &owner, None).await? {
        Ok(_) => Ok((StatusCode::ACCEPTED, Json(json!({ "success": true })))),
        Err(RetryError::DestinationDisabled) => Err(ApiError::bad_request(
            "destination is disabled; enable it before retrying",
        )),
        Err(RetryError::NoLongerMatches) => Err(ApiError::bad_request(
            "destination no longer matches the event (topic or filter)",
        )),
        Err(RetryError::DestinationNotFound) => Err(ApiError::not_found("destination")),
        Err(RetryError::NoPriorAttempt) => Err(ApiError::not_found(
            "attempt of this event to this destination",
        )),
        Err(RetryError::EventNotFound) => Err(ApiError::not_found("event")),
    }
}

/// Gives up a blocked delivery (an extension to Outpost's API): a delivery
/// of an ordered destination that blocks after a last failure holds its
/// lane until it is retried (`POST /retry`) or skipped here.
async fn skip(
    principal: Principal,
    Db(db): Db,
    Body(req): Body<RetryRequest>,
) -> Result<Json<Value>, ApiError> {
    let tenant = match &principal {
        Principal::Tenant(t) => Some(t),
        Principal::Admin => None,
    };
    let event_id = EventId::try_from(req.event_id).map_err(|_| ApiError::not_found("event"))?;
    let destination_id = DestinationId::try_from(req.destination_id)
        .map_err(|_| ApiError::not_found("destination"))?;
    let scope = tenant.map(std::slice::from_ref);
    let owner = match logs::get_event(&db, &event_id, scope).await {
        Ok(e) => e.tenant_id,
        Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("event")),
        Err(e) => return Err(e.into()),
    };
    if deliveries::skip(&db, &event_id, &destination_id, &owner).await? {
        Ok(Json(json!({ "success": true })))
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "this delivery is not blocked: only a delivery that failed for the last time \
             in a lane of an ordered destination that blocks can be skipped",
        ))
    }
}

/// The topic catalog (an extension to Outpost's API), optionally searched
/// by name or description: `?search=user`.
async fn catalog(State(state): State<AppState>, _principal: Principal, q: QueryMap) -> Json<Value> {
    let entries: Vec<Value> = match q.one("search").filter(|s| !s.is_empty()) {
        Some(term) => state
            .catalog
            .search(term)
            .iter()
            .map(|e| e.to_json())
            .collect(),
        None => state
            .catalog
            .entries()
            .iter()
            .map(|e| e.to_json())
            .collect(),
    };
    Json(Value::Array(entries))
}

async fn topics(State(state): State<AppState>, _principal: Principal) -> Json<Value> {
    let listed = state.topics.listed().unwrap_or_default();
    Json(json!(listed.iter().map(Topic::as_str).collect::<Vec<_>>()))
}
