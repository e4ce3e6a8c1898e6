//! Tenants: upsert, get, delete, list, token, portal link.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{self, Principal};
use super::error::ApiError;
use super::AppState;
use crate::domain::ids::TenantId;
use crate::store::tenants::{self, PageKey, TenantView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants", get(list))
        .route("/tenants/{tenant_id}", get(show).put(upsert).delete(remove))
        .route("/tenants/{tenant_id}/token", get(token))
        .route("/tenants/{tenant_id}/portal", get(portal))
}

pub fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn to_json(v: &TenantView) -> Value {
    json!({
        "id": v.tenant.id,
        "destinations_count": v.destinations_count,
        "topics": v.topics,
        "metadata": v.tenant.metadata,
        "created_at": v.tenant.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "updated_at": v.tenant.updated_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

/// `metadata` must be an object of strings (or null).
pub fn string_map(field: &str, v: Option<&Value>) -> Result<Option<Value>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            let bad: Vec<String> = m
                .iter()
                .filter(|(_, v)| !v.is_string())
                .map(|(k, _)| format!("{field}.{k} must be a string"))
                .collect();
            if bad.is_empty() {
                Ok(Some(Value::Object(m.clone())))
            } else {
                Err(ApiError::validation(bad))
            }
        }
        Some(_) => Err(ApiError::validation(vec![format!(
            "{field} must be an object of strings"
        )])),
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TenantUpsert {
    metadata: Option<Value>,
}

async fn upsert(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = tenant_id(&raw)?;
    principal.check_tenant(&id)?;
    // The body is optional: PUT with no body creates a tenant without metadata.
    let body: TenantUpsert = if body.iter().all(u8::is_ascii_whitespace) {
        TenantUpsert::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                ApiError::bad_request(format!("malformed JSON: {e}"))
            } else {
                ApiError::unprocessable(e.to_string())
            }
        })?
    };
    let metadata = string_map("metadata", body.metadata.as_ref())?;
    let client = state
        .pool
        .get()
        .await
        .map_err(crate::store::StoreError::from)?;
    let (_, created) = tenants::upsert(&client, &id, metadata.as_ref()).await?;
    let view = tenants::get(&client, &id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(to_json(&view))))
}

async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = tenant_id(&raw)?;
    principal.check_tenant(&id)?;
    let client = state
        .pool
        .get()
        .await
        .map_err(crate::store::StoreError::from)?;
    match tenants::get(&client, &id).await {
        Ok(v) => Ok(Json(to_json(&v))),
        Err(crate::store::StoreError::NotFound) => Err(ApiError::not_found("tenant")),
        Err(e) => Err(e.into()),
    }
}

async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = tenant_id(&raw)?;
    principal.check_tenant(&id)?;
    let client = state
        .pool
        .get()
        .await
        .map_err(crate::store::StoreError::from)?;
    match tenants::delete(&client, &id).await {
        Ok(()) => Ok(Json(json!({ "success": true }))),
        Err(crate::store::StoreError::NotFound) => Err(ApiError::not_found("tenant")),
        Err(e) => Err(e.into()),
    }
}

async fn ensure_exists(state: &AppState, id: &TenantId) -> Result<(), ApiError> {
    let client = state
        .pool
        .get()
        .await
        .map_err(crate::store::StoreError::from)?;
    match tenants::get(&client, id).await {
        Ok(_) => Ok(()),
        Err(crate::store::StoreError::NotFound) => Err(ApiError::not_found("tenant")),
        Err(e) => Err(e.into()),
    }
}

async fn token(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let id = tenant_id(&raw)?;
    ensure_exists(&state, &id).await?;
    let token = auth::issue(&state.auth.jwt_secret, &id, Utc::now().timestamp());
    Ok(Json(json!({ "token": token, "tenant_id": id.as_str() })))
}

#[derive(Debug, Deserialize)]
struct PortalQuery {
    theme: Option<String>,
}

async fn portal(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    Query(q): Query<PortalQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let id = tenant_id(&raw)?;
    ensure_exists(&state, &id).await?;
    let token = auth::issue(&state.auth.jwt_secret, &id, Utc::now().timestamp());
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base = state
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{host}"));
    let mut url = format!(
        "{}/?token={token}&tenant_id={}",
        base.trim_end_matches('/'),
        id.as_str()
    );
    if let Some(theme) = q.theme.filter(|t| t == "light" || t == "dark") {
        url.push_str(&format!("&theme={theme}"));
    }
    Ok(Json(
        json!({ "redirect_url": url, "tenant_id": id.as_str() }),
    ))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<String>,
    dir: Option<String>,
    next: Option<String>,
    prev: Option<String>,
    id: Option<String>,
    #[serde(rename = "id[]")]
    ids: Option<String>,
}

fn encode_cursor(k: &PageKey) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", k.created_at.timestamp_micros(), k.id))
}

fn decode_cursor(s: &str) -> Result<PageKey, ApiError> {
    let bad = || ApiError::bad_request("invalid cursor");
    let raw =
        String::from_utf8(URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?).map_err(|_| bad())?;
    let (micros, id) = raw.split_once('|').ok_or_else(bad)?;
    let created_at = DateTime::<Utc>::from_timestamp_micros(micros.parse().map_err(|_| bad())?)
        .ok_or_else(bad)?;
    Ok(PageKey {
        created_at,
        id: id.to_string(),
    })
}

fn key_of(v: &TenantView) -> PageKey {
    PageKey {
        created_at: v.tenant.created_at,
        id: v.tenant.id.clone(),
    }
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let limit: i64 = match q.limit.as_deref() {
        None => 20,
        Some(l) => l
            .parse()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit must be an integer from 1 to 100"))?,
    };
    let descending = match q.dir.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(ApiError::bad_request("dir must be asc or desc")),
    };
    if q.next.is_some() && q.prev.is_some() {
        return Err(ApiError::bad_request(
            "next and prev are mutually exclusive",
        ));
    }
    let ids: Option<Vec<String>> =
        q.id.or(q.ids)
            .map(|s| s.split(',').map(String::from).collect());
    let client = state
        .pool
        .get()
        .await
        .map_err(crate::store::StoreError::from)?;
    let (rows, next, prev) = if let Some(p) = &q.prev {
        // Walk backwards from the cursor, then present in the asked order.
        let key = decode_cursor(p)?;
        let mut rows =
            tenants::list(&client, ids.as_deref(), !descending, Some(&key), limit + 1).await?;
        let more_before = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        rows.reverse();
        let next = rows.last().map(|r| encode_cursor(&key_of(r)));
        let prev = if more_before {
            rows.first().map(|r| encode_cursor(&key_of(r)))
        } else {
            None
        };
        (rows, next, prev)
    } else {
        let key = q.next.as_deref().map(decode_cursor).transpose()?;
        let mut rows =
            tenants::list(&client, ids.as_deref(), descending, key.as_ref(), limit + 1).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next = if more {
            rows.last().map(|r| encode_cursor(&key_of(r)))
        } else {
            None
        };
        let prev = if key.is_some() {
            rows.first().map(|r| encode_cursor(&key_of(r)))
        } else {
            None
        };
        (rows, next, prev)
    };
    let count = tenants::count(&client, ids.as_deref()).await?;
    Ok(Json(json!({
        "models": rows.iter().map(to_json).collect::<Vec<_>>(),
        "pagination": {
            "order_by": "created_at",
            "dir": if descending { "desc" } else { "asc" },
            "limit": limit,
            "next": next,
            "prev": prev,
        },
        "count": count,
    })))
}
