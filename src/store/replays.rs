//! Replays (V28): start, read, cancel, and the steps the workers run. The
//! work is in SQL (`outbound.replay()`, `outbound.replay_step()`,
//! `outbound.replay_cancel()`); this module calls it.

use chrono::{DateTime, Utc};

use super::{id, queries, GenericClient, StoreError};
use crate::domain::ids::{DestinationId, ReplayId, TenantId};
use crate::domain::replay::{NewReplay, Replay, ReplayState};

const WHAT: &str = "replay";

/// Starts a replay. A bad range, a start before the retention or an
/// unknown destination is refused by the database with the field's name
/// (`StoreError::Invalid` or `MissingReference`).
pub async fn create(
    client: &impl GenericClient,
    new: &NewReplay,
    now: Option<DateTime<Utc>>,
) -> Result<Replay, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let stmt = client.prepare_cached(queries::REPLAYS_CREATE).await?;
    let row = client
        .query_one(
            &stmt,
            &[
                &new.tenant_id.as_str(),
                &new.start,
                &new.end,
                &new.destination_id.as_ref().map(DestinationId::as_str),
                &new.failed_only,
                &new.topics,
                &new.requested_by,
                &now,
            ],
        )
        .await?;
    replay(&row)
}

pub async fn get(
    client: &impl GenericClient,
    tenant: &TenantId,
    replay_id: &ReplayId,
) -> Result<Replay, StoreError> {
    let stmt = client.prepare_cached(queries::REPLAYS_GET).await?;
    let row = client
        .query_opt(&stmt, &[&tenant.as_str(), &replay_id.as_str()])
        .await?
        .ok_or(StoreError::NotFound(WHAT))?;
    replay(&row)
}

/// A tenant's latest `limit` replays, newest first.
pub async fn list(
    client: &impl GenericClient,
    tenant: &TenantId,
    limit: i64,
) -> Result<Vec<Replay>, StoreError> {
    let stmt = client.prepare_cached(queries::REPLAYS_LIST).await?;
    client
        .query(&stmt, &[&tenant.as_str(), &limit])
        .await?
        .iter()
        .map(replay)
        .collect()
}

/// Cancels a running replay (what it queued and was not sent is taken
/// back); one that was not running is answered as it is.
pub async fn cancel(
    client: &impl GenericClient,
    tenant: &TenantId,
    replay_id: &ReplayId,
    now: Option<DateTime<Utc>>,
) -> Result<Replay, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let stmt = client.prepare_cached(queries::REPLAYS_CANCEL).await?;
    let row = client
        .query_one(&stmt, &[&tenant.as_str(), &replay_id.as_str(), &now])
        .await?;
    if row.try_get::<_, Option<String>>("id")?.is_none() {
        return Err(StoreError::NotFound(WHAT));
    }
    replay(&row)
}

/// The replays to step: running ones, and those cancelled lately (their
/// step takes back what was being sent at the cancel).
pub async fn active(
    client: &impl GenericClient,
    now: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<(TenantId, ReplayId)>, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let stmt = client.prepare_cached(queries::REPLAYS_ACTIVE).await?;
    client
        .query(&stmt, &[&now, &limit])
        .await?
        .iter()
        .map(|r| Ok((id(r, "tenant_id")?, id(r, "id")?)))
        .collect()
}

/// What one step left a replay as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stepped {
    pub state: ReplayState,
    pub scanned: bool,
    pub events_scanned: i64,
    /// Queued to be sent now, and queued held (destination disabled).
    pub deliveries_queued: i64,
    pub deliveries_held: i64,
}

/// Runs one step of a replay, its own transaction (see
/// `outbound.replay_step()`). None when another worker is stepping it, or
/// it is gone.
pub async fn step(
    client: &impl GenericClient,
    tenant: &TenantId,
    replay_id: &ReplayId,
    batch: i32,
    now: Option<DateTime<Utc>>,
) -> Result<Option<Stepped>, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let stmt = client.prepare_cached(queries::REPLAYS_STEP).await?;
    let row = client
        .query_one(
            &stmt,
            &[&tenant.as_str(), &replay_id.as_str(), &batch, &now],
        )
        .await?;
    let Some(state) = row.try_get::<_, Option<String>>("state")? else {
        return Ok(None);
    };
    Ok(Some(Stepped {
        state: parse_state(&state)?,
        scanned: row.try_get("scanned")?,
        events_scanned: row.try_get("events_scanned")?,
        deliveries_queued: row.try_get("deliveries_queued")?,
        deliveries_held: row.try_get("deliveries_held")?,
    }))
}

/// Removes replays that ended longer ago than the retention; returns how many.
pub async fn trim(
    client: &impl GenericClient,
    now: Option<DateTime<Utc>>,
) -> Result<u64, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let stmt = client.prepare_cached(queries::REPLAYS_TRIM).await?;
    Ok(client.execute(&stmt, &[&now]).await?)
}

fn parse_state(s: &str) -> Result<ReplayState, StoreError> {
    ReplayState::parse(s).ok_or_else(|| StoreError::Corrupt(format!("replay state {s:?}")))
}

fn replay(r: &tokio_postgres::Row) -> Result<Replay, StoreError> {
    let destination_id = r
        .try_get::<_, Option<String>>("destination_id")?
        .map(DestinationId::try_from)
        .transpose()?;
    Ok(Replay {
        id: id(r, "id")?,
        tenant_id: id(r, "tenant_id")?,
        destination_id,
        start: r.try_get("start_time")?,
        end: r.try_get("end_time")?,
        failed_only: r.try_get("failed_only")?,
        topics: r.try_get("topics")?,
        state: parse_state(r.try_get("state")?)?,
        error: r.try_get("error")?,
        scanned: r.try_get("scanned")?,
        cursor: r.try_get("cursor_time")?,
        events_scanned: r.try_get("events_scanned")?,
        deliveries_queued: r.try_get("deliveries_queued")?,
        deliveries_held: r.try_get("deliveries_held")?,
        deliveries_skipped: r.try_get("deliveries_skipped")?,
        deliveries_cancelled: r.try_get("deliveries_cancelled")?,
        deliveries_waiting: r.try_get("deliveries_waiting")?,
        requested_by: r.try_get("requested_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}
