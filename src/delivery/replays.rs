//! The replayer: runs the steps of the replays in progress.
//!
//! A replay's work is SQL (`outbound.replay_step()`, V28): each step is
//! one statement, its own transaction, that queues the next batch of the
//! replay's range and moves its cursor on. What a step queues is an
//! ordinary delivery, claimed and sent by the workers through the fair
//! caps and the rate limit like any other. Every process that delivers
//! runs a replayer; a step locks its replay's row with SKIP LOCKED, so two
//! processes never run the same step, and one that dies mid-step leaves
//! nothing half done (its transaction rolls back, the cursor with it).
//!
//! While a replay runs, the replayer looks every `STEP_EVERY`: a step
//! queues only when fewer than a batch of the replay's deliveries still
//! wait for their first attempt, so this is how often a replay can follow
//! its destinations. With no replay running it looks every `IDLE_POLL`,
//! which is the most a new replay waits before its first step.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::domain::replay::{ReplayState, BATCH};
use crate::store::replays;
use crate::store::wakeups::Wakeup;
use crate::store::{Pool, StoreError};

/// How often the replays in progress are stepped.
const STEP_EVERY: Duration = Duration::from_millis(50);
/// How often to look for a replay when none is running.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Most replays looked at per round (the oldest first).
const MOST: i64 = 100;
/// How often replays older than the retention are removed.
const TRIM_EVERY: Duration = Duration::from_secs(3600);

/// Runs replay steps. Cheap to clone.
#[derive(Clone)]
pub struct Replayer {
    pool: Pool,
    /// This process's delivery worker, woken when a step queued something
    /// (other processes' idle workers are woken by the step's NOTIFY).
    wake: Option<Arc<Wakeup>>,
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Replays stepped (not counting those another process was stepping).
    pub stepped: usize,
    /// Of those, still running after their step.
    pub running: usize,
}

impl Replayer {
    pub fn new(pool: Pool, wake: Option<Arc<Wakeup>>) -> Replayer {
        Replayer { pool, wake }
    }

    /// One step of every replay in progress, as of `now`. A step that fails
    /// is logged and left for the next round: its transaction rolled back.
    pub async fn run_once(&self, now: Option<DateTime<Utc>>) -> Result<Round, StoreError> {
        let client = self.pool.get().await?;
        let mut round = Round::default();
        for (tenant, id) in replays::active(&client, now, MOST).await? {
            match replays::step(&client, &tenant, &id, BATCH, now).await {
                Ok(Some(stepped)) => {
                    round.stepped += 1;
                    if stepped.state == ReplayState::Running {
                        round.running += 1;
                    }
                    tracing::debug!(
                        tenant_id = %tenant, replay_id = %id, state = stepped.state.as_str(),
                        events_scanned = stepped.events_scanned,
                        deliveries_queued = stepped.deliveries_queued,
                        "replay stepped"
                    );
                    if stepped.state == ReplayState::Finished {
                        tracing::info!(
                            tenant_id = %tenant, replay_id = %id,
                            events_scanned = stepped.events_scanned,
                            deliveries_queued = stepped.deliveries_queued,
                            deliveries_held = stepped.deliveries_held,
                            "replay finished"
                        );
                    }
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(
                    tenant_id = %tenant, replay_id = %id, error = %err,
                    "replay step failed; will retry"
                ),
            }
        }
        // What a step queued is due now: this process's worker need not
        // wait for its next poll.
        if round.running > 0 {
            if let Some(wake) = &self.wake {
                wake.signal();
            }
        }
        Ok(round)
    }

    /// Steps replays until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        let mut last_trim: Option<Instant> = None;
        loop {
            let pause = match self.run_once(None).await {
                Ok(round) if round.running > 0 => STEP_EVERY,
                Ok(_) => IDLE_POLL,
                Err(err) => {
                    tracing::warn!(error = %err, "looking for replays failed; will retry");
                    IDLE_POLL
                }
            };
            if last_trim.is_none_or(|t| t.elapsed() >= TRIM_EVERY) {
                last_trim = Some(Instant::now());
                self.trim().await;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn trim(&self) {
        let trimmed = match self.pool.get().await {
            Ok(client) => replays::trim(&client, None).await,
            Err(err) => Err(err.into()),
        };
        match trimmed {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "replays older than the retention removed"),
            Err(err) => tracing::warn!(error = %err, "removing old replays failed"),
        }
    }
}
