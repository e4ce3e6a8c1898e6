//! Destinations: list, create, get, merge-patch, delete, enable/disable,
//! and the destination-type schemas.
//!
//! Credentials: sensitive fields are encrypted at rest and masked in every
//! response; a PATCH that sends a masked value back unchanged keeps the
//! stored one. Webhook signing secrets are generated on create, returned in
//! full (the receiver needs them), set directly only by the operator, and
//! rotated with `credentials.rotate_secret`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Map, Value};

use super::auth::Principal;
use super::error::ApiError;
use super::query::QueryMap;
use super::tenants::{string_map, tenant_id};
use super::AppState;
use crate::domain::credentials::{mask_sensitive, merge_credentials, merge_patch};
use crate::domain::destination_type::{self, DestinationType};
use crate::domain::filter::Filter;
use crate::domain::ids::{DestinationId, TenantId};
use crate::store::destinations::{
    self as store, DestinationRow, DestinationUpdate, NewDestination,
};
use crate::store::StoreError;

/// How long the previous secret stays valid after a rotation.
const ROTATION_GRACE_HOURS: i64 = 24;
/// Webhook credential keys only the operator may set directly.
const ADMIN_ONLY_SECRETS: &[&str] = &["secret", "previous_secret", "previous_secret_invalid_at"];

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

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn db<E: Into<StoreError>>(e: E) -> ApiError {
    ApiError::from(e.into())
}

/// The response shape, with credentials decrypted and masked.
fn render(state: &AppState, d: &DestinationRow) -> Result<Value, ApiError> {
    let kind = destination_type::get(&d.kind);
    let credentials = match kind {
        Some(t) => {
            let plain = state
                .cipher
                .decrypt_sensitive(t, &d.credentials)
                .map_err(|e| ApiError::internal(&e))?;
            mask_sensitive(t, &plain)
        }
        None => json!({}),
    };
    let url = d.config.get("url").and_then(Value::as_str);
    let target = match d.kind.as_str() {
        "webhook" => url
            .and_then(|u| u.split("://").nth(1))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string()),
        _ => [
            "queue_url",
            "bucket",
            "stream_name",
            "exchange",
            "topic",
            "server_url",
        ]
        .iter()
        .find_map(|k| d.config.get(*k).and_then(Value::as_str).map(String::from)),
    };
    Ok(json!({
        "id": d.id,
        "type": d.kind,
        "topics": d.topics,
        "filter": d.filter,
        "config": d.config,
        "credentials": credentials,
        "delivery_metadata": d.delivery_metadata,
        "metadata": d.metadata,
        "disabled_at": d.disabled_at.map(ts),
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
        "target": target,
        "target_url": if d.kind == "webhook" { url.map(String::from) } else { None },
    }))
}

async fn load(state: &AppState, tenant: &TenantId, id: &str) -> Result<DestinationRow, ApiError> {
    let client = state.pool.get().await.map_err(db)?;
    match store::get(&client, tenant, id).await {
        Ok(d) => Ok(d),
        Err(StoreError::NotFound) => Err(ApiError::not_found("destination")),
        Err(e) => Err(e.into()),
    }
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant_id(&raw)?;
    principal.check_tenant(&tenant)?;
    super::tenants::fetch(&state, &tenant).await?;
    let q = QueryMap::parse(q.as_deref());
    let client = state.pool.get().await.map_err(db)?;
    let rows = store::list(
        &client,
        &tenant,
        q.list("type").as_deref(),
        q.list("topics").as_deref(),
    )
    .await?;
    let out: Result<Vec<Value>, ApiError> = rows.iter().map(|d| render(&state, d)).collect();
    Ok(Json(Value::Array(out?)))
}

async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path((raw, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant_id(&raw)?;
    principal.check_tenant(&tenant)?;
    let d = load(&state, &tenant, &id).await?;
    Ok(Json(render(&state, &d)?))
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::unprocessable("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("malformed JSON: {e}"))),
    }
}

fn check_known(body: &Map<String, Value>, allowed: &[&str], errors: &mut Vec<String>) {
    for k in body.keys() {
        if !allowed.contains(&k.as_str()) {
            errors.push(format!("{k} is not a known field"));
        }
    }
}

fn parse_topics(
    state: &AppState,
    v: Option<&Value>,
    errors: &mut Vec<String>,
) -> Option<Vec<String>> {
    let list = match v {
        None => {
            errors.push("topics is required".into());
            return None;
        }
        Some(Value::String(s)) if s == "*" => vec!["*".to_string()],
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        Some(_) => {
            errors.push("topics must be an array of topic names, or \"*\"".into());
            return None;
        }
    };
    state
        .topics
        .check_subscription(&list)
        .map_err(|e| errors.push(format!("topics: {e}")))
        .ok()
}

fn parse_filter(v: Option<&Value>, errors: &mut Vec<String>) -> Option<Filter> {
    match v {
        None | Some(Value::Null) => None,
        Some(f) => Filter::parse(f)
            .map_err(|e| errors.push(e.to_string()))
            .ok(),
    }
}

fn generate_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", hex::encode(bytes))
}

/// Applies the webhook secret rules to merged credentials.
fn webhook_secrets(
    principal: &Principal,
    sent: &Value,
    credentials: &mut Value,
    now: DateTime<Utc>,
    errors: &mut Vec<String>,
) -> Result<(), ApiError> {
    if matches!(principal, Principal::Tenant(_)) {
        if let Some(obj) = sent.as_object() {
            if ADMIN_ONLY_SECRETS.iter().any(|k| obj.contains_key(*k)) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "webhook secrets can be set only by the operator; use rotate_secret",
                ));
            }
        }
    }
    let Some(obj) = credentials.as_object_mut() else {
        errors.push("credentials must be an object".into());
        return Ok(());
    };
    let rotate = match obj.remove("rotate_secret") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(Value::String(s)) => match destination_type::parse_checkbox(&s) {
            Some(b) => b,
            None => {
                errors.push("credentials.rotate_secret must be a boolean".into());
                false
            }
        },
        Some(_) => {
            errors.push("credentials.rotate_secret must be a boolean".into());
            false
        }
    };
    let current = obj.get("secret").and_then(Value::as_str).map(String::from);
    if rotate {
        if let Some(old) = current {
            obj.insert("previous_secret".into(), Value::String(old));
            let given = sent
                .get("previous_secret_invalid_at")
                .and_then(Value::as_str)
                .filter(|_| matches!(principal, Principal::Admin));
            let until = given.map(String::from).unwrap_or_else(|| {
                (now + chrono::Duration::hours(ROTATION_GRACE_HOURS))
                    .to_rfc3339_opts(SecondsFormat::Secs, true)
            });
            obj.insert("previous_secret_invalid_at".into(), Value::String(until));
        }
        obj.insert("secret".into(), Value::String(generate_secret()));
    } else if current.is_none_or(|s| s.is_empty()) {
        obj.insert("secret".into(), Value::String(generate_secret()));
    }
    if let Some(t) = obj
        .get("previous_secret_invalid_at")
        .and_then(Value::as_str)
    {
        if DateTime::parse_from_rfc3339(t).is_err() {
            errors.push(
                "credentials.previous_secret_invalid_at must be an RFC 3339 date-time".into(),
            );
        }
    }
    Ok(())
}

fn validate_fields(
    t: &DestinationType,
    config: &Value,
    credentials: &Value,
    errors: &mut Vec<String>,
) {
    if let Err(errs) = t.validate(config, credentials) {
        errors.extend(
            errs.into_iter()
                .map(|e| format!("{}: {}", e.field, e.message)),
        );
    }
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = tenant_id(&raw)?;
    principal.check_tenant(&tenant)?;
    let body = parse_body(&body)?;
    super::tenants::fetch(&state, &tenant).await?;
    let mut errors = Vec::new();
    check_known(
        &body,
        &[
            "id",
            "type",
            "topics",
            "filter",
            "config",
            "credentials",
            "delivery_metadata",
            "metadata",
            "disabled_at",
        ],
        &mut errors,
    );
    let kind = match body.get("type").and_then(Value::as_str) {
        None => {
            errors.push("type is required".into());
            None
        }
        Some(k) => match destination_type::get(k) {
            Some(t) => Some(t),
            None => {
                errors.push(format!("type {k:?} is not a destination type"));
                None
            }
        },
    };
    let id = match body.get("id") {
        None | Some(Value::Null) => Some(format!(
            "des_{}",
            Alphanumeric.sample_string(&mut rand::rng(), 20)
        )),
        Some(Value::String(s)) => DestinationId::parse(s)
            .map(|d| d.to_string())
            .map_err(|e| errors.push(e.to_string()))
            .ok(),
        Some(_) => {
            errors.push("id must be a string".into());
            None
        }
    };
    let topics = parse_topics(&state, body.get("topics"), &mut errors);
    let filter = parse_filter(body.get("filter"), &mut errors);
    let config = body.get("config").cloned().unwrap_or_else(|| json!({}));
    let sent_credentials = body
        .get("credentials")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut credentials = sent_credentials.clone();
    let delivery_metadata = string_map("delivery_metadata", body.get("delivery_metadata"))
        .map_err(|e| errors.extend(messages(&e)))
        .ok()
        .flatten();
    let metadata = string_map("metadata", body.get("metadata"))
        .map_err(|e| errors.extend(messages(&e)))
        .ok()
        .flatten();
    let now = Utc::now();
    if let Some(t) = kind {
        if t.kind == "webhook" {
            webhook_secrets(
                &principal,
                &sent_credentials,
                &mut credentials,
                now,
                &mut errors,
            )?;
        }
        validate_fields(t, &config, &credentials, &mut errors);
    }
    let (Some(t), Some(id), Some(topics), true) = (kind, id, topics, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let disabled_at = match body.get("disabled_at") {
        Some(Value::String(s)) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    ApiError::validation(vec!["disabled_at must be an RFC 3339 date-time".into()])
                })?
                .to_utc(),
        ),
        _ => None,
    };

    let client = state.pool.get().await.map_err(db)?;
    if store::count(&client, &tenant).await? >= state.max_destinations_per_tenant {
        return Err(ApiError::unprocessable(format!(
            "a tenant can have at most {} destinations",
            state.max_destinations_per_tenant
        )));
    }
    let credentials = state
        .cipher
        .encrypt_sensitive(t, &credentials)
        .map_err(|e| ApiError::internal(&e))?;
    let new = NewDestination {
        id: DestinationId::parse(&id).map_err(|e| ApiError::bad_request(e.to_string()))?,
        tenant_id: tenant.clone(),
        kind: t.kind.to_string(),
        topics,
        filter,
        config: t.normalize_config(&config),
        credentials,
        delivery_metadata,
        metadata,
        disabled_at,
    };
    match store::insert(&client, &new).await {
        Ok(_) => {}
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("destination {id} already exists"),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    let d = store::get(&client, &tenant, &id).await?;
    Ok((StatusCode::CREATED, Json(render(&state, &d)?)))
}

fn messages(e: &ApiError) -> Vec<String> {
    match &e.data {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|m| m.as_str().map(String::from))
            .collect(),
        _ => vec![e.message.clone()],
    }
}

/// RFC 7396 for an optional object field: absent = unchanged, null = cleared.
fn merge_optional(stored: &Option<Value>, patch: Option<&Value>) -> Option<Value> {
    match patch {
        None => stored.clone(),
        Some(Value::Null) => None,
        Some(p) => {
            let mut merged = stored.clone().unwrap_or_else(|| json!({}));
            merge_patch(&mut merged, p);
            Some(merged)
        }
    }
}

async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    Path((raw, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant_id(&raw)?;
    principal.check_tenant(&tenant)?;
    let body = parse_body(&body)?;
    let d = load(&state, &tenant, &id).await?;
    let t = destination_type::get(&d.kind).ok_or_else(|| {
        ApiError::unprocessable(format!("destination type {} is not supported", d.kind))
    })?;
    let mut errors = Vec::new();
    check_known(
        &body,
        &[
            "type",
            "topics",
            "filter",
            "config",
            "credentials",
            "delivery_metadata",
            "metadata",
            "disabled_at",
        ],
        &mut errors,
    );
    if let Some(k) = body.get("type") {
        if k.as_str() != Some(d.kind.as_str()) {
            errors.push(format!(
                "type cannot be changed (this destination is a {})",
                d.kind
            ));
        }
    }
    let topics = match body.get("topics") {
        None => Some(d.topics.clone()),
        v => parse_topics(&state, v, &mut errors),
    };
    let filter = match body.get("filter") {
        None => d.filter.as_ref().and_then(|f| Filter::parse(f).ok()),
        v => parse_filter(v, &mut errors),
    };
    let mut config = d.config.clone();
    if let Some(p) = body.get("config") {
        merge_patch(&mut config, p);
    }
    let stored = state
        .cipher
        .decrypt_sensitive(t, &d.credentials)
        .map_err(|e| ApiError::internal(&e))?;
    let sent_credentials = body
        .get("credentials")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let sensitive: Vec<&str> = t.sensitive_keys().collect();
    let mut credentials = match body.get("credentials") {
        None => stored.clone(),
        Some(p) => merge_credentials(&stored, p, &sensitive),
    };
    if t.kind == "webhook" {
        // A tenant echoing the secret it was shown is not setting it.
        let mut sent = sent_credentials.clone();
        if let (Some(s), Some(obj)) = (stored.as_object(), sent.as_object_mut()) {
            obj.retain(|k, v| s.get(k) != Some(v));
        }
        webhook_secrets(&principal, &sent, &mut credentials, Utc::now(), &mut errors)?;
    }
    let delivery_metadata = merge_optional(&d.delivery_metadata, body.get("delivery_metadata"));
    let metadata = merge_optional(&d.metadata, body.get("metadata"));
    for (name, v) in [
        ("delivery_metadata", &delivery_metadata),
        ("metadata", &metadata),
    ] {
        if let Err(e) = string_map(name, v.as_ref()) {
            errors.extend(messages(&e));
        }
    }
    validate_fields(t, &config, &credentials, &mut errors);
    let disabled = match body.get("disabled_at") {
        None => None,
        Some(Value::Null) => Some(false),
        Some(Value::String(s)) if DateTime::parse_from_rfc3339(s).is_ok() => Some(true),
        Some(_) => {
            errors.push("disabled_at must be null or an RFC 3339 date-time".into());
            None
        }
    };
    let Some(topics) = topics else {
        return Err(ApiError::validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let update = DestinationUpdate {
        topics,
        filter,
        config: t.normalize_config(&config),
        credentials: state
            .cipher
            .encrypt_sensitive(t, &credentials)
            .map_err(|e| ApiError::internal(&e))?,
        delivery_metadata,
        metadata,
    };
    let client = state.pool.get().await.map_err(db)?;
    store::update(&client, &tenant, &id, &update).await?;
    if let Some(disabled) = disabled {
        let did = DestinationId::parse(&id).map_err(|e| ApiError::bad_request(e.to_string()))?;
        store::set_disabled(&client, &tenant, &did, disabled, None).await?;
    }
    let d = store::get(&client, &tenant, &id).await?;
    Ok(Json(render(&state, &d)?))
}

async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path((raw, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant_id(&raw)?;
    principal.check_tenant(&tenant)?;
    let client = state.pool.get().await.map_err(db)?;
    match store::delete(&client, &tenant, &id).await {
        Ok(()) => Ok(Json(json!({ "success": true }))),
        Err(StoreError::NotFound) => Err(ApiError::not_found("destination")),
        Err(e) => Err(e.into()),
    }
}

async fn set_state(
    state: &AppState,
    principal: &Principal,
    raw: &str,
    id: &str,
    disabled: bool,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant_id(raw)?;
    principal.check_tenant(&tenant)?;
    let did = DestinationId::parse(id).map_err(|_| ApiError::not_found("destination"))?;
    let client = state.pool.get().await.map_err(db)?;
    match store::set_disabled(&client, &tenant, &did, disabled, None).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(ApiError::not_found("destination")),
        Err(e) => return Err(e.into()),
    }
    let d = store::get(&client, &tenant, id).await?;
    Ok(Json(render(state, &d)?))
}

async fn enable(
    State(state): State<AppState>,
    principal: Principal,
    Path((raw, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    set_state(&state, &principal, &raw, &id, false).await
}

async fn disable(
    State(state): State<AppState>,
    principal: Principal,
    Path((raw, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    set_state(&state, &principal, &raw, &id, true).await
}

/// `POST …/test {"topic"?}`: publishes the topic's sample payload from the
/// catalog to this destination only; it shows in the events list like any
/// event. Without a topic, the first of the destination's topics (or, for
/// `*`, of the catalog) that has a sample is used.
async fn test(
    State(state): State<AppState>,
    principal: Principal,
    Path((raw, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = tenant_id(&raw)?;
    principal.check_tenant(&tenant)?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        parse_body(&body)?
    };
    let d = load(&state, &tenant, &id).await?;
    if d.disabled_at.is_some() {
        return Err(ApiError::bad_request(
            "destination is disabled; enable it before testing",
        ));
    }
    let all = d.topics.iter().any(|t| t == "*");
    let subscribed = |name: &str| all || d.topics.iter().any(|t| t == name);
    let entry = match body.get("topic") {
        Some(Value::String(t)) => {
            if !subscribed(t) {
                return Err(ApiError::unprocessable(format!(
                    "the destination is not subscribed to {t}"
                )));
            }
            state
                .catalog
                .get(t)
                .filter(|e| e.sample.is_some())
                .ok_or_else(|| {
                    ApiError::unprocessable(format!(
                        "the topic catalog has no sample payload for {t}"
                    ))
                })?
        }
        Some(_) => return Err(ApiError::validation(vec!["topic must be a string".into()])),
        None => state
            .catalog
            .entries()
            .iter()
            .filter(|e| e.sample.is_some())
            .find(|e| subscribed(&e.name))
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "the topic catalog has no sample payload for this destination's topics",
                )
            })?,
    };
    let event = crate::store::events::NewEvent {
        tenant_id: tenant.clone(),
        topic: crate::domain::topic::Topic::parse(&entry.name)
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        data: entry
            .sample
            .clone()
            .unwrap_or_else(|| json!({}))
            .to_string(),
        id: None,
        metadata: Some(json!({ "test": "true" })),
        time: None,
        eligible_for_retry: false,
        destination_id: Some(
            DestinationId::parse(&id).map_err(|e| ApiError::bad_request(e.to_string()))?,
        ),
    };
    let client = state.pool.get().await.map_err(db)?;
    let published = crate::store::events::publish(&client, &event).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": published.id,
            "duplicate": published.duplicate,
            "destination_ids": published.destination_ids,
            "topic": entry.name,
        })),
    ))
}

async fn types(_principal: Principal) -> Json<Value> {
    Json(Value::Array(
        destination_type::all()
            .iter()
            .map(|t| t.to_json())
            .collect(),
    ))
}

async fn one_type(
    _principal: Principal,
    Path(kind): Path<String>,
) -> Result<Json<Value>, ApiError> {
    destination_type::get(&kind)
        .map(|t| Json(t.to_json()))
        .ok_or_else(|| ApiError::not_found("destination type"))
}
