//! Tenants: upsert, get, delete, list, token, portal link.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{self, Principal};
use super::error::ApiError;
use super::extract::{Db, Operator, OptionalBody, TenantScope};
use super::query::{PageRequest, QueryMap};
use super::AppState;
use crate::domain::ids::TenantId;
use crate::domain::metadata::string_map;
use crate::store::logs::Key;
use crate::store::tenants::{self, TenantView};
use crate::store::GenericClient;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants", get(list))
        .route("/tenants/{tenant_id}", get(show).put(upsert).delete(remove))
        .route("/tenants/{tenant_id}/token", get(token))
        .route("/tenants/{tenant_id}/portal", get(portal))
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

/// The tenant, or 404 "tenant not found".
pub async fn ensure_tenant(
    client: &impl GenericClient,
    id: &TenantId,
) -> Result<TenantView, ApiError> {
    Ok(tenants::get(client, id).await?)
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TenantUpsert {
    metadata: Option<Value>,
}

/// Creates the tenant (201) or replaces its metadata (200). The body is
/// optional: PUT with no body creates a tenant without metadata.
async fn upsert(
    s: TenantScope,
    Db(db): Db,
    OptionalBody(body): OptionalBody<TenantUpsert>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let metadata = string_map("metadata", body.metadata.as_ref()).map_err(ApiError::validation)?;
    let (_, created) = tenants::upsert(&db, &s.tenant, metadata.as_ref()).await?;
    let view = tenants::get(&db, &s.tenant).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(to_json(&view))))
}

async fn show(s: TenantScope, Db(db): Db) -> Result<Json<Value>, ApiError> {
    Ok(Json(to_json(&ensure_tenant(&db, &s.tenant).await?)))
}

async fn remove(s: TenantScope, Db(db): Db) -> Result<Json<Value>, ApiError> {
    tenants::delete(&db, &s.tenant).await?;
    Ok(Json(json!({ "success": true })))
}

/// A tenant token (operator only).
async fn token(
    State(state): State<AppState>,
    _: Operator,
    s: TenantScope,
    Db(db): Db,
) -> Result<Json<Value>, ApiError> {
    ensure_tenant(&db, &s.tenant).await?;
    let token = auth::issue(&state.auth.jwt_secret, &s.tenant, Utc::now().timestamp());
    Ok(Json(json!({ "token": token, "tenant_id": s.tenant })))
}

#[derive(Debug, Deserialize)]
struct PortalQuery {
    theme: Option<String>,
    /// An extension: a link for a tenant that does not exist yet, whose
    /// first visit offers "Set up Webhooks" (provisioning only that tenant).
    #[serde(default)]
    setup: bool,
}

/// A link into the portal with a fresh tenant token (operator only). 404
/// for an unknown tenant, as in Outpost, unless `setup=true`.
async fn portal(
    State(state): State<AppState>,
    _: Operator,
    s: TenantScope,
    Db(db): Db,
    Query(q): Query<PortalQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    if !q.setup {
        ensure_tenant(&db, &s.tenant).await?;
    }
    let token = auth::issue(&state.auth.jwt_secret, &s.tenant, Utc::now().timestamp());
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
        s.tenant
    );
    if let Some(theme) = q.theme.filter(|t| t == "light" || t == "dark") {
        url.push_str(&format!("&theme={theme}"));
    }
    Ok(Json(json!({ "redirect_url": url, "tenant_id": s.tenant })))
}

/// Every tenant, a page at a time; with a tenant's token, that tenant alone
/// (as Outpost answers).
async fn list(principal: Principal, Db(db): Db, q: QueryMap) -> Result<Json<Value>, ApiError> {
    let page = PageRequest::parse(&q, "created_at", 20, 100)?;
    // An id that cannot be a tenant's matches none.
    let ids: Option<Vec<TenantId>> = match principal {
        Principal::Admin => q.parsed("id"),
        Principal::Tenant(own) => Some(vec![own]),
    };
    let rows = tenants::list(
        &db,
        ids.as_deref(),
        page.query_descending(),
        page.cursor.as_ref(),
        page.limit + 1,
    )
    .await?;
    let (rows, next, prev) = page.finish(rows, |v| Key {
        time: v.tenant.created_at,
        id: v.tenant.id.to_string(),
    });
    let count = tenants::count(&db, ids.as_deref()).await?;
    Ok(Json(json!({
        "models": rows.iter().map(to_json).collect::<Vec<_>>(),
        "pagination": page.pagination(next, prev),
        "count": count,
    })))
}
