//! Tenants: upsert, get, delete, list, token, portal link.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{self, Principal};
use super::error::ApiError;
use super::query::{PageRequest, QueryMap};
use super::AppState;
use crate::domain::ids::TenantId;
use crate::store::logs::Key;
use crate::store::tenants::{self, TenantView};

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
    Ok(Json(to_json(&fetch(&state, &id).await?)))
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

/// The tenant, or 404.
pub async fn fetch(state: &AppState, id: &TenantId) -> Result<TenantView, ApiError> {
    let client = state
        .pool
        .get()
        .await
        .map_err(crate::store::StoreError::from)?;
    match tenants::get(&client, id).await {
        Ok(v) => Ok(v),
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
    fetch(&state, &id).await?;
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
    fetch(&state, &id).await?;
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

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let q = QueryMap::parse(raw.as_deref());
    let page = PageRequest::parse(&q, "created_at", 20, 100)?;
    let ids = q.list("id");
    let client = state
        .pool
        .get()
        .await
        .map_err(crate::store::StoreError::from)?;
    let rows = tenants::list(
        &client,
        ids.as_deref(),
        page.query_descending(),
        page.cursor.as_ref(),
        page.limit + 1,
    )
    .await?;
    let (rows, next, prev) = page.finish(rows, |v| Key {
        time: v.tenant.created_at,
        id: v.tenant.id.clone(),
    });
    let count = tenants::count(&client, ids.as_deref()).await?;
    Ok(Json(json!({
        "models": rows.iter().map(to_json).collect::<Vec<_>>(),
        "pagination": page.pagination(next, prev),
        "count": count,
    })))
}
