//! Destinations.

use chrono::{DateTime, Utc};

use super::{queries, GenericClient, StoreError};
use crate::domain::filter::Filter;
use crate::domain::ids::{DestinationId, TenantId};

/// A destination to create. The filter is already parsed and compiled, so
/// what is stored is always a predicate the fan-out can evaluate.
#[derive(Debug, Clone)]
pub struct NewDestination {
    pub id: DestinationId,
    pub tenant_id: TenantId,
    pub kind: String,
    pub topics: Vec<String>,
    pub filter: Option<Filter>,
    pub config: serde_json::Value,
    pub credentials: serde_json::Value,
    pub delivery_metadata: Option<serde_json::Value>,
    pub metadata: Option<serde_json::Value>,
    pub disabled_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    client: &impl GenericClient,
    d: &NewDestination,
) -> Result<DateTime<Utc>, StoreError> {
    let stmt = client.prepare_cached(queries::DESTINATIONS_INSERT).await?;
    let (filter, path) = match &d.filter {
        Some(f) if !f.is_empty() => (Some(f.as_json().clone()), f.jsonpath()),
        _ => (None, None),
    };
    let row = client
        .query_one(
            &stmt,
            &[
                &d.id.as_str(),
                &d.tenant_id.as_str(),
                &d.kind,
                &d.topics,
                &filter,
                &path,
                &d.config,
                &d.credentials,
                &d.delivery_metadata,
                &d.metadata,
                &d.disabled_at,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// Enables or disables a destination of a tenant (holding or releasing its
/// queued deliveries). Returns the new `disabled_at`, or NotFound.
pub async fn set_disabled(
    client: &impl GenericClient,
    tenant_id: &TenantId,
    id: &DestinationId,
    disabled: bool,
    now: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let stmt = client
        .prepare_cached(queries::DESTINATIONS_SET_DISABLED)
        .await?;
    let row = client
        .query_opt(&stmt, &[&id.as_str(), &tenant_id.as_str(), &disabled, &now])
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(row.get(1))
}

/// A destination as stored (credentials still encrypted).
#[derive(Debug, Clone)]
pub struct DestinationRow {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub topics: Vec<String>,
    pub filter: Option<serde_json::Value>,
    pub config: serde_json::Value,
    pub credentials: serde_json::Value,
    pub delivery_metadata: Option<serde_json::Value>,
    pub metadata: Option<serde_json::Value>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn row(r: &tokio_postgres::Row) -> DestinationRow {
    DestinationRow {
        id: r.get("id"),
        tenant_id: r.get("tenant_id"),
        kind: r.get("type"),
        topics: r.get("topics"),
        filter: r.get("filter"),
        config: r.get("config"),
        credentials: r.get("credentials"),
        delivery_metadata: r.get("delivery_metadata"),
        metadata: r.get("metadata"),
        disabled_at: r.get("disabled_at"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

pub async fn list(
    client: &impl GenericClient,
    tenant: &TenantId,
    kinds: Option<&[String]>,
    topics: Option<&[String]>,
) -> Result<Vec<DestinationRow>, StoreError> {
    let stmt = client.prepare_cached(queries::DESTINATIONS_LIST).await?;
    let rows = client
        .query(&stmt, &[&tenant.as_str(), &kinds, &topics])
        .await?;
    Ok(rows.iter().map(row).collect())
}

pub async fn get(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &str,
) -> Result<DestinationRow, StoreError> {
    let stmt = client.prepare_cached(queries::DESTINATIONS_GET).await?;
    let r = client
        .query_opt(&stmt, &[&id, &tenant.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(row(&r))
}

/// The editable fields of a destination, as they are to be stored.
#[derive(Debug, Clone)]
pub struct DestinationUpdate {
    pub topics: Vec<String>,
    pub filter: Option<Filter>,
    pub config: serde_json::Value,
    pub credentials: serde_json::Value,
    pub delivery_metadata: Option<serde_json::Value>,
    pub metadata: Option<serde_json::Value>,
}

pub async fn update(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &str,
    u: &DestinationUpdate,
) -> Result<(), StoreError> {
    let stmt = client.prepare_cached(queries::DESTINATIONS_UPDATE).await?;
    let (filter, path) = match &u.filter {
        Some(f) if !f.is_empty() => (Some(f.as_json().clone()), f.jsonpath()),
        _ => (None, None),
    };
    client
        .query_opt(
            &stmt,
            &[
                &id,
                &tenant.as_str(),
                &u.topics,
                &filter,
                &path,
                &u.config,
                &u.credentials,
                &u.delivery_metadata,
                &u.metadata,
            ],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(())
}

pub async fn delete(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &str,
) -> Result<(), StoreError> {
    let stmt = client.prepare_cached(queries::DESTINATIONS_DELETE).await?;
    client
        .query_opt(&stmt, &[&id, &tenant.as_str()])
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(())
}

pub async fn count(client: &impl GenericClient, tenant: &TenantId) -> Result<i64, StoreError> {
    let stmt = client.prepare_cached(queries::DESTINATIONS_COUNT).await?;
    Ok(client.query_one(&stmt, &[&tenant.as_str()]).await?.get(0))
}
