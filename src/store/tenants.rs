//! Tenants.

use chrono::{DateTime, Utc};

use super::{queries, GenericClient, StoreError};
use crate::domain::ids::TenantId;

#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: String,
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
    Ok((
        Tenant {
            id: row.get(0),
            metadata: row.get(1),
            created_at: row.get(2),
            updated_at: row.get(3),
        },
        row.get(4),
    ))
}
