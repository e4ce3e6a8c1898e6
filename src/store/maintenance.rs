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

    pub async fn run_once(
        &self,
        now: Option<DateTime<Utc>>,
    ) -> Result<serde_json::Value, StoreError> {
        let client = self.pool.get().await?;
        maintain(&client, now).await
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
