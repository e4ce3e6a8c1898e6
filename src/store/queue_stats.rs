//! What `GET /metrics` reads from the database at scrape time: the queue's
//! depth and the age of its oldest due delivery, and the events stored by
//! every path. Both statements read indexes or statistics, never a table
//! scan (see their SQL).

use chrono::{DateTime, Utc};

use super::{queries, GenericClient, StoreError};

/// The most rows a queue count walks: beyond it the count reads this
/// figure, which is all an alert needs to know. Walking the claim index
/// visits each row's heap tuple: 100,000 rows took ~200 ms of the
/// database on the development machine, 10,000 take a tenth of that,
/// which a scrape every few seconds can afford.
pub const COUNT_CAP: i64 = 10_000;

/// The deliveries in the queue, by where they stand.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueueDepth {
    /// Pending and due now.
    pub due: i64,
    /// Leased, but the lease ran out before the outcome was recorded: due
    /// again (the worker died, or was too slow).
    pub lease_expired: i64,
    /// Being sent now.
    pub leased: i64,
    /// Waiting for a retry's time.
    pub scheduled: i64,
    /// Due, waiting for their destination to have room.
    pub parked: i64,
    /// Kept for disabled destinations until they are enabled.
    pub held: i64,
    /// How long the oldest due delivery (pending, expired or parked) has
    /// been waiting, in seconds; 0 with none.
    pub oldest_due_age_secs: f64,
}

pub async fn queue_depth(
    client: &impl GenericClient,
    now: Option<DateTime<Utc>>,
) -> Result<QueueDepth, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let sql = match super::citus::is_distributed(client).await? {
        true => queries::METRICS_QUEUE_DEPTH_CITUS,
        false => queries::METRICS_QUEUE_DEPTH,
    };
    let stmt = client.prepare_cached(sql).await?;
    let row = client.query_one(&stmt, &[&now, &COUNT_CAP]).await?;
    let oldest: Option<DateTime<Utc>> = row.try_get("oldest_due")?;
    let at: DateTime<Utc> = row.try_get("now")?;
    let age = oldest.map_or(0.0, |o| (at - o).num_milliseconds().max(0) as f64 / 1000.0);
    Ok(QueueDepth {
        due: row.try_get("due")?,
        lease_expired: row.try_get("lease_expired")?,
        leased: row.try_get("leased")?,
        scheduled: row.try_get("scheduled")?,
        parked: row.try_get("parked")?,
        held: row.try_get("held")?,
        oldest_due_age_secs: age,
    })
}

/// Events inserted by every path and process, per Postgres' statistics
/// (see `metrics/events_stored.sql` for how exact that is).
pub async fn events_stored(client: &impl GenericClient) -> Result<i64, StoreError> {
    let stmt = client
        .prepare_cached(queries::METRICS_EVENTS_STORED)
        .await?;
    Ok(client.query_one(&stmt, &[]).await?.try_get("inserted")?)
}
