//! Destinations.

use chrono::{DateTime, Utc};

use super::{queries, GenericClient, StoreError};
use crate::destinations::kind::DestinationKind;
use crate::domain::delivery_policy::DeliveryPolicy;
use crate::domain::filter::Filter;
use crate::domain::ids::{DestinationId, TenantId};
use crate::domain::topic::like_patterns;

const WHAT: &str = "destination";

/// A destination to create. The filter is already parsed and compiled, so
/// what is stored is always a predicate the fan-out can evaluate.
#[derive(Debug, Clone)]
pub struct NewDestination {
    pub id: DestinationId,
    pub tenant_id: TenantId,
    pub kind: DestinationKind,
    pub topics: Vec<String>,
    pub filter: Option<Filter>,
    pub config: serde_json::Value,
    pub credentials: serde_json::Value,
    pub delivery_metadata: Option<serde_json::Value>,
    pub metadata: Option<serde_json::Value>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub policy: DeliveryPolicy,
}

/// The filter as stored: its JSON and its compiled predicate, or neither.
fn filter_columns(filter: &Option<Filter>) -> (Option<serde_json::Value>, Option<&str>) {
    match filter {
        Some(f) if !f.is_empty() => (Some(f.as_json().clone()), f.jsonpath()),
        _ => (None, None),
    }
}

pub async fn insert(
    client: &impl GenericClient,
    d: &NewDestination,
) -> Result<DateTime<Utc>, StoreError> {
    let stmt = client.prepare_cached(queries::DESTINATIONS_INSERT).await?;
    let (filter, path) = filter_columns(&d.filter);
    let row = client
        .query_one(
            &stmt,
            &[
                &d.id.as_str(),
                &d.tenant_id.as_str(),
                &d.kind.as_str(),
                &d.topics,
                &filter,
                &path,
                &d.config,
                &d.credentials,
                &d.delivery_metadata,
                &d.metadata,
                &d.disabled_at,
                &like_patterns(&d.topics),
                &d.policy.to_json(),
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
    let now = now.unwrap_or_else(Utc::now);
    let stmt = client
        .prepare_cached(queries::DESTINATIONS_SET_DISABLED)
        .await?;
    let row = client
        .query_opt(&stmt, &[&id.as_str(), &tenant_id.as_str(), &disabled, &now])
        .await?
        .ok_or(StoreError::NotFound(WHAT))?;
    Ok(row.get(1))
}

/// A destination as stored (credentials still encrypted).
#[derive(Debug, Clone)]
pub struct DestinationRow {
    pub id: DestinationId,
    pub tenant_id: TenantId,
    pub kind: DestinationKind,
    pub topics: Vec<String>,
    pub filter: Option<serde_json::Value>,
    pub config: serde_json::Value,
    pub credentials: serde_json::Value,
    pub delivery_metadata: Option<serde_json::Value>,
    pub metadata: Option<serde_json::Value>,
    pub policy: DeliveryPolicy,
    pub disabled_at: Option<DateTime<Utc>>,
    /// `manual` or `consecutive_failures`; None while enabled.
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Deliveries held for it while disabled, counted up to
    /// [`HELD_COUNT_CAP`] (always 0 while enabled).
    pub held_events: i64,
}

/// The most held deliveries `get` and `list` count per destination: an
/// index walk, so a month of held events would cost a second a page.
pub const HELD_COUNT_CAP: i64 = 100_000;

fn row(r: &tokio_postgres::Row) -> Result<DestinationRow, StoreError> {
    Ok(DestinationRow {
        id: super::id(r, "id")?,
        tenant_id: super::id(r, "tenant_id")?,
        kind: DestinationKind::parse(r.try_get("type")?)?,
        topics: r.try_get("topics")?,
        filter: r.try_get("filter")?,
        config: r.try_get("config")?,
        credentials: r.try_get("credentials")?,
        delivery_metadata: r.try_get("delivery_metadata")?,
        metadata: r.try_get("metadata")?,
        policy: DeliveryPolicy::stored(&r.try_get::<_, serde_json::Value>("delivery_policy")?),
        disabled_at: r.try_get("disabled_at")?,
        disabled_reason: r.try_get("disabled_reason")?,
        consecutive_failures: r.try_get("consecutive_failures")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        held_events: r.try_get("held_events")?,
    })
}

/// A tenant's destinations, optionally only of some kinds or subscribed to
/// some topics.
pub async fn list(
    client: &impl GenericClient,
    tenant: &TenantId,
    kinds: Option<&[DestinationKind]>,
    topics: Option<&[String]>,
) -> Result<Vec<DestinationRow>, StoreError> {
    let stmt = client.prepare_cached(queries::DESTINATIONS_LIST).await?;
    let kinds = kinds.map(super::strs);
    let rows = client
        .query(&stmt, &[&tenant.as_str(), &kinds, &topics])
        .await?;
    rows.iter().map(row).collect()
}

pub async fn get(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &DestinationId,
) -> Result<DestinationRow, StoreError> {
    let stmt = client.prepare_cached(queries::DESTINATIONS_GET).await?;
    let r = client
        .query_opt(&stmt, &[&id.as_str(), &tenant.as_str()])
        .await?
        .ok_or(StoreError::NotFound(WHAT))?;
    row(&r)
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
    pub policy: DeliveryPolicy,
}

pub async fn update(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &DestinationId,
    u: &DestinationUpdate,
) -> Result<(), StoreError> {
    let stmt = client.prepare_cached(queries::DESTINATIONS_UPDATE).await?;
    let (filter, path) = filter_columns(&u.filter);
    client
        .query_opt(
            &stmt,
            &[
                &id.as_str(),
                &tenant.as_str(),
                &u.topics,
                &filter,
                &path,
                &u.config,
                &u.credentials,
                &u.delivery_metadata,
                &u.metadata,
                &like_patterns(&u.topics),
                &u.policy.to_json(),
            ],
        )
        .await?
        .ok_or(StoreError::NotFound(WHAT))?;
    Ok(())
}

pub async fn delete(
    client: &impl GenericClient,
    tenant: &TenantId,
    id: &DestinationId,
) -> Result<(), StoreError> {
    let stmt = client.prepare_cached(queries::DESTINATIONS_DELETE).await?;
    client
        .query_opt(&stmt, &[&id.as_str(), &tenant.as_str()])
        .await?
        .ok_or(StoreError::NotFound(WHAT))?;
    Ok(())
}

pub async fn count(client: &impl GenericClient, tenant: &TenantId) -> Result<i64, StoreError> {
    let stmt = client.prepare_cached(queries::DESTINATIONS_COUNT).await?;
    Ok(client.query_one(&stmt, &[&tenant.as_str()]).await?.get(0))
}

/// Whether every one of `ids` is a destination of `tenant`.
pub async fn all_owned(
    client: &impl GenericClient,
    tenant: &TenantId,
    ids: &[DestinationId],
) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached(queries::DESTINATIONS_COUNT_OWNED)
        .await?;
    let mut distinct = super::strs(ids);
    distinct.sort_unstable();
    distinct.dedup();
    let n: i64 = client
        .query_one(&stmt, &[&tenant.as_str(), &distinct])
        .await?
        .get(0);
    Ok(usize::try_from(n).is_ok_and(|n| n == distinct.len()))
}
