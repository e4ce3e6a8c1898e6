//! Destinations: list, create, get, merge-patch, delete, enable/disable,
//! test, and the destination-type schemas.
//!
//! Request bodies are checked in `destination_body`, responses shaped in
//! `destination_view`; each handler here reads as its route's description.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Principal;
use super::destination_body::{CreateDestination, PatchDestination};
use super::destination_view::render;
use super::error::ApiError;
use super::extract::{Body, Db, DestinationScope, OptionalBody, TenantScope};
use super::query::QueryMap;
use super::subscription;
use super::tenants::ensure_tenant;
use super::transform;
use super::AppState;
use crate::destinations;
use crate::destinations::kind::DestinationKind;
use crate::domain::topic::Topic;
use crate::store::destinations as store;
use crate::store::events::{self, NewEvent};
use crate::store::held::{self, OnEnable};
use crate::store::{GenericClient, StoreError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant_id}/destinations", get(list).post(create))
        .route(
            "/tenants/{tenant_id}/destinations/{destination_id}",
            get(show).patch(patch).delete(remove),
        )
        .route(
            "/tenants/{tenant_id}/destinations/{destination_id}/enable",
            put(enable),
        )
        .route(
            "/tenants/{tenant_id}/destinations/{destination_id}/disable",
            put(disable),
        )
        .route(
            "/tenants/{tenant_id}/destinations/{destination_id}/test",
            post(test),
        )
        .route("/destination-types", get(types))
        .route("/destination-types/{type}", get(one_type))
}

/// The tenant's destinations, optionally of some `type`s or `topics`.
async fn list(
    State(state): State<AppState>,
    s: TenantScope,
    Db(db): Db,
    q: QueryMap,
) -> Result<Json<Value>, ApiError> {
    ensure_tenant(&db, &s.tenant).await?;
    let kinds: Option<Vec<DestinationKind>> = q.parsed("type");
    let rows = store::list(
        &db,
        &s.tenant,
        kinds.as_deref(),
        q.list("topics").as_deref(),
    )
    .await?;
    let out: Result<Vec<Value>, ApiError> = rows.iter().map(|d| render(&state, d)).collect();
    Ok(Json(Value::Array(out?)))
}

async fn show(
    State(state): State<AppState>,
    d: DestinationScope,
    Db(db): Db,
) -> Result<Json<Value>, ApiError> {
    let row = store::get(&db, &d.scope.tenant, &d.id).await?;
    Ok(Json(render(&state, &row)?))
}

/// Creates a destination; 422 names every bad field.
async fn create(
    State(state): State<AppState>,
    s: TenantScope,
    Db(mut db): Db,
    Body(body): Body<CreateDestination>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    ensure_tenant(&db, &s.tenant).await?;
    let new = body.check(&state, &s.principal, &s.tenant, Utc::now())?;
    refuse_ordering_on_citus(&db, &new.policy).await?;
    transform::check_policy(&state, &new.policy).await?;
    if store::count(&db, &s.tenant).await? >= state.max_destinations_per_tenant {
        return Err(ApiError::bad_request(format!(
            "a tenant can have at most {} destinations",
            state.max_destinations_per_tenant
        )));
    }
    let tx = db.transaction().await.map_err(StoreError::from)?;
    let watch = subscription::watch(&state, &tx, &s.tenant).await?;
    match store::insert(&tx, &new).await {
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("destination {} already exists", new.id),
            ))
        }
        other => other?,
    };
    watch.emit(&tx, &s.tenant).await?;
    let row = store::get(&tx, &s.tenant, &new.id).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok((StatusCode::CREATED, Json(render(&state, &row)?)))
}

/// Merge-patches a destination (RFC 7396); its type never changes.
async fn patch(
    State(state): State<AppState>,
    d: DestinationScope,
    Db(mut db): Db,
    Body(body): Body<PatchDestination>,
) -> Result<Json<Value>, ApiError> {
    let tenant = &d.scope.tenant;
    let row = store::get(&db, tenant, &d.id).await?;
    let patched = body.apply(&state, &d.scope.principal, &row, Utc::now())?;
    refuse_ordering_on_citus(&db, &patched.update.policy).await?;
    if patched.update.policy.transform != row.policy.transform {
        transform::check_policy(&state, &patched.update.policy).await?;
    }
    let tx = db.transaction().await.map_err(StoreError::from)?;
    let watch = subscription::watch(&state, &tx, tenant).await?;
    store::update(&tx, tenant, &d.id, &patched.update).await?;
    let mut more_held = false;
    if let Some(disable) = patched.disable {
        store::set_disabled(&tx, tenant, &d.id, disable, None).await?;
        if !disable {
            more_held = held::release(&tx, tenant, &d.id, held::BATCH, None).await? == held::BATCH;
        }
    }
    watch.emit(&tx, tenant).await?;
    let row = store::get(&tx, tenant, &d.id).await?;
    tx.commit().await.map_err(StoreError::from)?;
    if more_held {
        release_rest(&db, tenant, &d.id).await?;
    }
    Ok(Json(render(&state, &row)?))
}

/// Ordered delivery needs the worker's sequencing pass, which runs on one
/// node only (V26): on Citus a policy asking for it is refused.
async fn refuse_ordering_on_citus(
    db: &deadpool_postgres::Object,
    policy: &crate::domain::delivery_policy::DeliveryPolicy,
) -> Result<(), ApiError> {
    if policy.ordering.is_some() && crate::store::citus::is_distributed(db).await? {
        return Err(ApiError::validation(vec![
            "delivery_policy.ordering is not available when outbound's tables are \
             distributed (Citus): ordered delivery runs on one PostgreSQL node"
                .into(),
        ]));
    }
    Ok(())
}

async fn remove(
    State(state): State<AppState>,
    d: DestinationScope,
    Db(mut db): Db,
) -> Result<Json<Value>, ApiError> {
    let tx = db.transaction().await.map_err(StoreError::from)?;
    let watch = subscription::watch(&state, &tx, &d.scope.tenant).await?;
    store::delete(&tx, &d.scope.tenant, &d.id).await?;
    watch.emit(&tx, &d.scope.tenant).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Json(json!({ "success": true })))
}

/// `PUT …/enable[?held=deliver|discard]`: what was held for the destination
/// while it was disabled is delivered, oldest first (the default, and all
/// that Outpost's SDKs know), or discarded, each with a `discarded`
/// attempt in the log.
async fn enable(
    State(state): State<AppState>,
    d: DestinationScope,
    Db(mut db): Db,
    q: QueryMap,
) -> Result<Json<Value>, ApiError> {
    let on_enable = match q.one("held") {
        None | Some("deliver") => OnEnable::Deliver,
        Some("discard") => OnEnable::Discard,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "held must be \"deliver\" or \"discard\", not {other:?}"
            )))
        }
    };
    let tenant = &d.scope.tenant;
    // Not found (or another tenant's) before anything is discarded.
    store::get(&db, tenant, &d.id).await?;
    if on_enable == OnEnable::Discard {
        // While it is still disabled, in batches: what is published
        // meanwhile is held, and discarded by the last batch below.
        while held::discard(&db, tenant, &d.id, held::BATCH, None).await? == held::BATCH {}
    }
    let tx = db.transaction().await.map_err(StoreError::from)?;
    let watch = subscription::watch(&state, &tx, tenant).await?;
    store::set_disabled(&tx, tenant, &d.id, false, None).await?;
    let more_held = match on_enable {
        OnEnable::Deliver => {
            held::release(&tx, tenant, &d.id, held::BATCH, None).await? == held::BATCH
        }
        OnEnable::Discard => {
            while held::discard(&tx, tenant, &d.id, held::BATCH, None).await? == held::BATCH {}
            false
        }
    };
    watch.emit(&tx, tenant).await?;
    let row = store::get(&tx, tenant, &d.id).await?;
    tx.commit().await.map_err(StoreError::from)?;
    if more_held {
        release_rest(&db, tenant, &d.id).await?;
    }
    Ok(Json(render(&state, &row)?))
}

/// Releases the rest of a large backlog after the first batch committed
/// with the enable. Should this stop half way (the client went away, the
/// process stopped), the workers' sweep releases what is left.
async fn release_rest(
    db: &deadpool_postgres::Object,
    tenant: &crate::domain::ids::TenantId,
    id: &crate::domain::ids::DestinationId,
) -> Result<(), ApiError> {
    while held::release(db, tenant, id, held::BATCH, None).await? == held::BATCH {}
    Ok(())
}

/// `PUT …/disable`: the destination is paused; what matches it is held.
async fn disable(
    State(state): State<AppState>,
    d: DestinationScope,
    Db(mut db): Db,
) -> Result<Json<Value>, ApiError> {
    let tenant = &d.scope.tenant;
    let tx = db.transaction().await.map_err(StoreError::from)?;
    let watch = subscription::watch(&state, &tx, tenant).await?;
    store::set_disabled(&tx, tenant, &d.id, true, None).await?;
    watch.emit(&tx, tenant).await?;
    let row = store::get(&tx, tenant, &d.id).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Json(render(&state, &row)?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestRequest {
    topic: Option<String>,
}

/// `POST …/test {"topic"?}`: publishes the topic's sample payload from the
/// catalog to this destination only; it shows in the events list like any
/// event.
async fn test(
    State(state): State<AppState>,
    d: DestinationScope,
    Db(db): Db,
    OptionalBody(body): OptionalBody<TestRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let row = store::get(&db, &d.scope.tenant, &d.id).await?;
    if row.disabled_at.is_some() {
        return Err(ApiError::bad_request(
            "destination is disabled; enable it before testing",
        ));
    }
    let entry = state
        .catalog
        .test_sample(&row.topics, body.topic.as_deref())
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let topic = Topic::parse(&entry.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let sample = entry.sample.clone().unwrap_or_else(|| json!({}));
    let event = NewEvent {
        metadata: Some(json!({ "test": "true" })),
        eligible_for_retry: false,
        destination_id: Some(d.id.clone()),
        ..NewEvent::new(d.scope.tenant.clone(), topic, sample.to_string())
    };
    let published = events::publish(&db, &event).await?;
    let mut answer = json!(published);
    answer["topic"] = json!(entry.name);
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

/// The types this build delivers, as Outpost's documents.
async fn types(State(state): State<AppState>, _principal: Principal) -> Json<Value> {
    Json(Value::Array(
        state
            .deliverable
            .iter()
            .map(|k| type_document(&state, *k))
            .collect(),
    ))
}

/// A type's document; in Standard Webhooks mode the webhook type says so.
fn type_document(state: &AppState, kind: DestinationKind) -> Value {
    destinations::served_declaration(kind, state.webhook_mode).to_json()
}

async fn one_type(
    State(state): State<AppState>,
    _principal: Principal,
    Path(kind): Path<String>,
) -> Result<Json<Value>, ApiError> {
    DestinationKind::parse(&kind)
        .ok()
        .filter(|k| state.deliverable.contains(k))
        .map(|k| Json(type_document(&state, k)))
        .ok_or_else(|| ApiError::not_found("destination type"))
}
