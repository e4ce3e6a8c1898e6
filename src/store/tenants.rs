//! Tenants.

use chrono::{DateTime, Utc};

use super::{queries, GenericClient, StoreError};
use crate::domain::ids::TenantId;

const WHAT: &str = "tenant";

#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: TenantId,
    pub metadata: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Creates the tenant or replaces its metadata; the flag is true when it was
/// created by this call.
pub async fn upsert(
    client: &impl GenericClient,
    id: &TenantId,
    metadata: Option<&serde_json::Value>,
) -> Result<(Tenant, bool), StoreError> {
    let stmt = client.prepare_cached(queries::TENANTS_UPSERT).await?;
    let row = client.query_one(&stmt, &[&id.as_str(), &metadata]).await?;
    Ok((tenant(&row)?, row.try_get(4)?))
}

/// A tenant as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantView {
    pub tenant: Tenant,
    pub destinations_count: i64,
    pub topics: Vec<String>,
}

/// The tenant in the first four columns: id, metadata, created_at, updated_at.
fn tenant(row: &tokio_postgres::Row) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: TenantId::try_from(row.try_get::<_, String>(0)?)?,
        metadata: row.try_get(1)?,
        created_at: row.try_get(2)?,
        updated_at: row.try_get(3)?,
    })
}

fn view(row: &tokio_postgres::Row) -> Result<TenantView, StoreError> {
    Ok(TenantView {
        tenant: tenant(row)?,
        destinations_count: row.try_get(4)?,
        topics: row.try_get(5)?,
    })
}

pub async fn get(client: &impl GenericClient, id: &TenantId) -> Result<TenantView, StoreError> {
    let stmt = client.prepare_cached(queries::TENANTS_GET).await?;
    let row = client
        .query_opt(&stmt, &[&id.as_str()])
        .await?
        .ok_or(StoreError::NotFound(WHAT))?;
    view(&row)
}

/// Deletes a tenant, its destinations and its queued deliveries.
pub async fn delete(client: &impl GenericClient, id: &TenantId) -> Result<(), StoreError> {
    let stmt = client.prepare_cached(queries::TENANTS_DELETE).await?;
    client
        .query_opt(&stmt, &[&id.as_str()])
        .await?
        .ok_or(StoreError::NotFound(WHAT))?;
    Ok(())
}

/// One page of tenants in `descending` order after `after` (exclusive).
pub async fn list(
    client: &impl GenericClient,
    ids: Option<&[TenantId]>,
    descending: bool,
    after: Option<&super::logs::Key>,
    limit: i64,
) -> Result<Vec<TenantView>, StoreError> {
    let stmt = client.prepare_cached(queries::TENANTS_LIST).await?;
    let ids = ids.map(super::strs);
    let rows = client
        .query(
            &stmt,
            &[
                &ids,
                &descending,
                &after.map(|k| k.time),
                &after.map(|k| k.id.as_str()),
                &limit,
            ],
        )
        .await?;
    rows.iter().map(view).collect()
}

pub async fn count(
    client: &impl GenericClient,
    ids: Option<&[TenantId]>,
) -> Result<i64, StoreError> {
    let stmt = client.prepare_cached(queries::TENANTS_COUNT).await?;
    let ids = ids.map(super::strs);
    Ok(client.query_one(&stmt, &[&ids]).await?.get(0))
}
