//! The claim loop's bookkeeping between steps.

use std::time::{Duration, Instant};

use super::{WorkerConfig, LINGER, LOOK};
use crate::delivery::sending::start_within;

/// The loop's bookkeeping between steps.
pub(super) struct LoopState {
    /// Our idle flag as last written; None until the first write lands.
    pub(super) idle: Option<bool>,
    pub(super) last_beat: Instant,
    pub(super) last_sweep: Instant,
    /// Wait after a failed claim; doubles up to 2 s.
    pub(super) backoff: Duration,
    /// When a claim last found work.
    pub(super) last_work: Instant,
    /// When the last claim started.
    pub(super) last_claim: Instant,
    /// When the next claim may start (see CLAIM_PACE).
    pub(super) next_claim: Instant,
    /// How many deliveries may be in flight or waiting at once.
    pub(super) capacity: usize,
    /// Claim only when this much room is free while work is in flight.
    pub(super) claim_threshold: usize,
    /// How soon after its claim a delivery must start sending.
    pub(super) start_within: Duration,
    /// The next idle sleep (see `Worker::sleep`).
    pub(super) idle_poll: Duration,
    /// The moving average of the time between claims that found work
    /// (see `GAP_WEIGHT`).
    pub(super) work_gap: Duration,
    /// The queue ran empty under load: look again for a moment before
    /// declaring the worker idle.
    pub(super) lingering: bool,
    /// Idle and asleep: the next step looks whether anything is due
    /// before it claims (see `Worker::sleep`).
    pub(super) asleep: bool,
}

impl LoopState {
    pub(super) fn new(cfg: &WorkerConfig) -> LoopState {
        let start_within = start_within(cfg.lease, cfg.send_timeout);
        // A slot frees up at least every send_timeout, so this many claimed
        // deliveries waiting for slots all start in time even if every
        // receiver hangs until the timeout; `sending` is the safety net.
        let rounds = start_within.as_millis() / cfg.send_timeout.as_millis().max(1);
        let ahead = cfg.batch_size.min(
            cfg.concurrency
                .saturating_mul(usize::try_from(rounds).unwrap_or(usize::MAX)),
        );
        let capacity = cfg.concurrency + ahead;
        LoopState {
            idle: None,
            last_beat: Instant::now(),
            last_sweep: Instant::now(),
            backoff: Duration::from_millis(100),
            last_work: Instant::now() - LINGER,
            last_claim: Instant::now(),
            next_claim: Instant::now(),
            capacity,
            claim_threshold: (cfg.batch_size.min(capacity) / 2).max(1),
            start_within,
            idle_poll: LOOK,
            work_gap: LINGER * 10,
            lingering: false,
            asleep: false,
        }
    }
}
