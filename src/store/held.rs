//! Deliveries held for a disabled destination: released when it is
//! enabled, or discarded when the tenant says so, in batches.
//!
//! A disabled destination is paused, never unsubscribed: the fan-out keeps
//! queueing what matches it, as `held` rows (V15). Enabling through the API
//! releases them at once ([`release`]); the workers' sweep
//! ([`release_enabled`]) catches whatever enabling could not see (a plain
//! SQL enable, a publish that committed held rows just after the enable, a
//! release cut short).

use chrono::{DateTime, Utc};

use super::{queries, GenericClient, StoreError};
use crate::domain::ids::{DestinationId, TenantId};

/// Rows one statement releases or discards: large enough that a backlog of
/// millions takes a few hundred statements, small enough that each one
/// stays well under a second.
pub const BATCH: i64 = 10_000;

/// What enabling does with what was held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnEnable {
    /// Deliver it, oldest first (the default, and what Outpost's SDKs get).
    #[default]
    Deliver,
    /// End it unsent, each with a `discarded` attempt in the log.
    Discard,
}

/// Releases up to `limit` held deliveries of `destination` (only while it is
/// enabled), oldest event first; returns how many.
pub async fn release(
    client: &impl GenericClient,
    tenant: &TenantId,
    destination: &DestinationId,
    limit: i64,
    now: Option<DateTime<Utc>>,
) -> Result<i64, StoreError> {
    count_of(
        client,
        queries::HELD_RELEASE,
        tenant,
        destination,
        limit,
        now,
    )
    .await
}

/// Discards up to `limit` held deliveries of `destination`, oldest first,
/// logging a `discarded` attempt for each; returns how many.
pub async fn discard(
    client: &impl GenericClient,
    tenant: &TenantId,
    destination: &DestinationId,
    limit: i64,
    now: Option<DateTime<Utc>>,
) -> Result<i64, StoreError> {
    count_of(
        client,
        queries::HELD_DISCARD,
        tenant,
        destination,
        limit,
        now,
    )
    .await
}

async fn count_of(
    client: &impl GenericClient,
    sql: &str,
    tenant: &TenantId,
    destination: &DestinationId,
    limit: i64,
    now: Option<DateTime<Utc>>,
) -> Result<i64, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let stmt = client.prepare_cached(sql).await?;
    let row = client
        .query_one(
            &stmt,
            &[&destination.as_str(), &limit, &now, &tenant.as_str()],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// The sweep: releases up to `limit` held deliveries of each destination
/// that is enabled (or gone); returns how many.
pub async fn release_enabled(
    client: &impl GenericClient,
    limit: i64,
    now: Option<DateTime<Utc>>,
    tenants: Option<&[TenantId]>,
) -> Result<i64, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let route = super::for_group(queries::HELD_RELEASE_ENABLED, tenants);
    let stmt = client.prepare_cached(route.sql).await?;
    Ok(client
        .query_one(&stmt, &route.params(&[&limit, &now]))
        .await?
        .try_get(0)?)
}
