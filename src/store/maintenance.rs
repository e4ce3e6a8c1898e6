//! Maintenance: partitions ahead, retention, trimming. The work itself is the
//! SQL function `outbound.maintain()`; this module calls it, either once or
//! on a schedule when pg_cron is not there to do it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{queries, GenericClient, Pool, StoreError};

pub async fn maintain(
    client: &impl GenericClient,
    now: Option<DateTime<Utc>>,
) -> Result<serde_json::Value, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let stmt = client.prepare_cached(queries::MAINTENANCE_MAINTAIN).await?;
    let text: String = client.query_one(&stmt, &[&now]).await?.get(0);
    serde_json::from_str(&text).map_err(|e| StoreError::Invalid {
        message: e.to_string(),
    })
}

pub async fn apply_settings(
    client: &impl GenericClient,
    retention_days: u32,
) -> Result<(), StoreError> {
    let days = i32::try_from(retention_days).unwrap_or(i32::MAX);
    client
        .execute(queries::MAINTENANCE_APPLY_SETTINGS, &[&days])
        .await?;
    Ok(())
}

/// Tells `maintain()` whether to raise `alert.attempt.exhausted_retries`
/// for the deliveries it ends at the retention, and its window per
/// destination. One value for the database: every process writes it when
/// it starts, so the last one started wins.
pub async fn apply_alert_settings(
    client: &impl GenericClient,
    exhausted_retries: bool,
    window_ms: i64,
) -> Result<(), StoreError> {
    client
        .execute(
            queries::MAINTENANCE_APPLY_ALERT_SETTINGS,
            &[&exhausted_retries, &window_ms],
        )
        .await?;
    Ok(())
}

/// Deliveries that one maintenance run ended because their event reached
/// the retention, for one destination.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Expired {
    pub tenant_id: String,
    pub destination_id: String,
    /// How many of the destination's deliveries were ended.
    pub deliveries: i64,
    /// One of their events (the first by id), the one the alert is about.
    pub event_id: String,
}

/// The `expired` list of a maintenance report (empty when the run did not
/// run or ended nothing).
pub fn expired(report: &serde_json::Value) -> Vec<Expired> {
    report
        .get("expired")
        .and_then(|list| serde_json::from_value(list.clone()).ok())
        .unwrap_or_default()
}

/// Registers maintenance with pg_cron if it is installed; answers whether it was.
pub async fn schedule_with_pg_cron(client: &impl GenericClient) -> Result<bool, StoreError> {
    let has: bool = client
        .query_one(queries::MAINTENANCE_HAS_PG_CRON, &[])
        .await?
        .get(0);
    if has {
        client
            .execute(queries::MAINTENANCE_SCHEDULE_PG_CRON, &[])
            .await?;
    }
    Ok(has)
}

/// The service's own maintenance scheduler, for databases without pg_cron.
/// Every process may run one: the function's advisory lock lets one at a
/// time do the work.
pub struct Maintainer {
    pool: Pool,
    every: Duration,
}

impl Maintainer {
    pub fn new(pool: Pool, every: Duration) -> Self {
        Maintainer { pool, every }
    }

    /// One run. The alerts for the deliveries it ended are raised by
    /// `maintain()` itself (V13), in its transaction; this only says so in
    /// the log.
    pub async fn run_once(
        &self,
        now: Option<DateTime<Utc>>,
    ) -> Result<serde_json::Value, StoreError> {
        let client = self.pool.get().await?;
        let report = maintain(&client, now).await?;
        for e in expired(&report) {
            tracing::warn!(
                tenant_id = %e.tenant_id,
                destination_id = %e.destination_id,
                event_id = %e.event_id,
                deliveries = e.deliveries,
                "deliveries ended unsent: their events reached the retention"
            );
        }
        Ok(report)
    }

    pub async fn run(self, cancel: CancellationToken) {
        loop {
            match self.run_once(None).await {
                Ok(report) => tracing::debug!(%report, "maintenance ran"),
                Err(err) => tracing::warn!(error = %err, "maintenance failed; will retry"),
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
        }
    }
}
