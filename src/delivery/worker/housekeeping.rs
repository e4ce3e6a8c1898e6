//! What the loop does besides claiming: the heartbeat that keeps the
//! worker's row (and its idle flag) fresh, the held-delivery sweep, and
//! giving leases back on shutdown.

use std::time::{Duration, Instant};

use super::{LoopState, Worker};
use crate::store::{deliveries, held, workers, StoreError};

/// How often a worker refreshes its row while running. On Citus a worker
/// whose row is older than `shards::STALE` loses its share of the shard
/// groups to the others.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// How often a worker gives back to the queue what is still held for
/// destinations that are enabled (`store::held::release_enabled`): a
/// destination enabled with plain SQL waits at most this long.
const HELD_SWEEP: Duration = Duration::from_secs(5);

impl Worker {
    /// Refreshes the worker's row every HEARTBEAT.
    pub(super) async fn heartbeat(&self, state: &mut LoopState) {
        if state.last_beat.elapsed() >= HEARTBEAT {
            if let Err(err) = self.set_idle(state.idle.unwrap_or(false)).await {
                tracing::warn!(error = %err, "heartbeat failed");
            }
            state.last_beat = Instant::now();
        }
    }

    /// Every HELD_SWEEP, releases held deliveries of enabled destinations.
    pub(super) async fn sweep_held(&self, state: &mut LoopState) {
        if state.last_sweep.elapsed() < HELD_SWEEP {
            return;
        }
        state.last_sweep = Instant::now();
        let released = match self.inner.pool.get().await {
            Ok(client) => match self.inner.citus.get() {
                // On Citus, one routed statement per shard group this
                // process owns.
                Some(true) => {
                    let groups = self.inner.shards.lock().await.owned_tenants();
                    let mut released = Ok(0);
                    for tenants in groups {
                        match held::release_enabled(&client, held::BATCH, None, Some(&tenants))
                            .await
                        {
                            Ok(n) => released = released.map(|r| r + n),
                            Err(err) => released = Err(err),
                        }
                    }
                    released
                }
                _ => held::release_enabled(&client, held::BATCH, None, None).await,
            },
            Err(err) => Err(err.into()),
        };
        match released {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                released = n,
                "held deliveries of enabled destinations queued"
            ),
            Err(err) => tracing::warn!(error = %err, "releasing held deliveries failed"),
        }
    }

    pub(super) async fn set_idle(&self, idle: bool) -> Result<(), StoreError> {
        let client = self.inner.pool.get().await?;
        workers::upsert(
            &client,
            &self.inner.id,
            idle,
            &self.inner.hostname,
            i32::try_from(std::process::id()).unwrap_or(0),
        )
        .await
    }

    /// Whatever is still leased by us was not recorded: give it back.
    pub(super) async fn release_and_deregister(&self) {
        let Ok(client) = self.inner.pool.get().await else {
            return;
        };
        match deliveries::release(&client, &self.inner.id).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "leases released for immediate retry"),
            Err(err) => {
                tracing::warn!(error = %err, "could not release leases; they will expire")
            }
        }
        let _ = workers::deregister(&client, &self.inner.id).await;
    }
}
