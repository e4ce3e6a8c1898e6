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
