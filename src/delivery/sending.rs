//! The send side of a worker: a fixed number of send slots
//! (`DELIVERY_CONCURRENCY`), the claimed deliveries waiting for one, and
//! the send tasks in flight.
//!
//! A claimed delivery must start sending soon enough that the send, even
//! one that runs until the timeout, and its recording both finish within
//! its lease ([`start_within`]). One that waited longer is not sent: its
//! lease runs out and any worker claims it again. Sending it anyway could
//! race a second worker holding a newer claim of the same delivery.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::attempt::{log_span, Attempter, Outcome};
use super::fairness::{self, Fairness};
use crate::store::deliveries::Claimed;
use crate::store::wakeups::Wakeup;
use crate::telemetry::{self, Stage};

/// Time allowed for recording an outcome after its send, within the lease.
const RECORD_MARGIN: Duration = Duration::from_secs(2);

/// How soon after its claim a delivery must start sending: what the lease
/// leaves after a send that takes the whole timeout, less time to record
/// it (up to RECORD_MARGIN, at most half of what is left). A lease no longer
/// than the timeout (allowed only in tests) leaves half the lease.
pub fn start_within(lease: Duration, send_timeout: Duration) -> Duration {
    let slack = lease.saturating_sub(send_timeout);
    if slack.is_zero() {
        return lease / 2;
    }
    slack - RECORD_MARGIN.min(slack / 2)
}

/// When the claim loop woke up for a claim, and when the claim answered:
/// the clock readings its deliveries' first stages are measured from.
#[derive(Debug, Clone, Copy)]
pub struct ClaimClock {
    pub woken: Instant,
    /// `woken` on the wall clock, to compare with the event's time.
    pub woken_at: DateTime<Utc>,
    pub claimed: Instant,
}

impl ClaimClock {
    /// The stages of `c` up to its send, which starts at `start`. A first
    /// attempt whose event is younger than the wake-up (a signal that was
    /// not for it, or a claim already on its way) counts as woken when its
    /// event was stored: no wait there, the rest in the claim.
    fn observe(&self, c: &Claimed, start: Instant) {
        let mut woken = self.woken;
        if c.attempts == 0 && !c.manual {
            match (self.woken_at - c.event_time).to_std() {
                Ok(waited) => telemetry::stage(Stage::Wake, waited),
                Err(_) => {
                    let later = (c.event_time - self.woken_at).to_std().unwrap_or_default();
                    woken = (woken + later).min(self.claimed);
                    telemetry::stage(Stage::Wake, Duration::ZERO);
                }
            }
        }
        telemetry::stage(Stage::Claim, self.claimed - woken);
        telemetry::stage(Stage::Queue, start - self.claimed);
    }
}

/// An outcome for the recorder, and when its send ended (None: not sent).
pub type Finished = (Outcome, Option<Instant>);

/// A claimed delivery waiting for a send slot.
struct Waiting {
    claimed: Claimed,
    clock: ClaimClock,
    /// Sent only if a slot frees up before this.
    start_by: Instant,
}

pub struct Sending {
    slots: Arc<Semaphore>,
    concurrency: usize,
    tasks: JoinSet<()>,
    waiting: VecDeque<Waiting>,
    attempter: Arc<Attempter>,
    outcomes: mpsc::Sender<Finished>,
    /// Counts what the worker holds per destination (see `fairness`).
    fairness: Arc<Fairness>,
    /// Wakes the claim loop when a slow destination has room again.
    wake: Arc<Wakeup>,
}

impl Sending {
    pub fn new(
        concurrency: usize,
        attempter: Arc<Attempter>,
        outcomes: mpsc::Sender<Finished>,
        fairness: Arc<Fairness>,
        wake: Arc<Wakeup>,
    ) -> Sending {
        Sending {
            slots: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            tasks: JoinSet::new(),
            waiting: VecDeque::new(),
            attempter,
            outcomes,
            fairness,
            wake,
        }
    }

    /// Deliveries in flight or waiting for a slot.
    pub fn busy(&self) -> usize {
        self.concurrency - self.slots.available_permits() + self.waiting.len()
    }

    /// Send slots free now.
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Queues claimed deliveries, each to start sending by `start_by`,
    /// round-robin by destination.
    pub fn queue(&mut self, claimed: Vec<Claimed>, clock: ClaimClock, start_by: Instant) {
        self.fairness.claimed(&claimed);
        self.waiting.extend(
            fairness::interleave(claimed)
                .into_iter()
                .map(|claimed| Waiting {
                    claimed,
                    clock,
                    start_by,
                }),
        );
    }

    /// Starts waiting deliveries in every free slot, without waiting, and
    /// forgets finished send tasks.
    pub fn start_ready(&mut self) {
        while self.tasks.try_join_next().is_some() {}
        while self.has_waiting() {
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                break;
            };
            self.start_next(slot);
        }
    }

    /// Waits for a slot to free up and gives it to the next waiting
    /// delivery. False when the slots are closed (never, in practice).
    pub async fn next_slot(&mut self) -> bool {
        match self.slots.clone().acquire_owned().await {
            Ok(slot) => {
                self.start_next(slot);
                true
            }
            Err(_) => false,
        }
    }

    /// Runs `work` (a claim) while freed slots still go to waiting
    /// deliveries, so a slot never idles for a round trip.
    pub async fn meanwhile<F: Future>(&mut self, work: F) -> F::Output {
        tokio::pin!(work);
        loop {
            let waiting = self.has_waiting();
            tokio::select! {
                out = &mut work => return out,
                _ = self.next_slot(), if waiting => {}
            }
        }
    }

    /// Sends the next waiting delivery that can still start within its
    /// lease, holding `slot` until its outcome is handed to the recorder.
    fn start_next(&mut self, slot: OwnedSemaphorePermit) {
        let Some((c, clock)) = next_sendable(&mut self.waiting, &self.fairness) else {
            return;
        };
        let (attempter, outcomes) = (self.attempter.clone(), self.outcomes.clone());
        let (fairness, wake) = (self.fairness.clone(), self.wake.clone());
        self.tasks.spawn(async move {
            let destination = c.destination_key();
            let started = Instant::now();
            clock.observe(&c, started);
            let outcome = attempter.attempt(c, Utc::now()).await;
            // Only a send says how fast the destination is.
            let sent = matches!(&outcome, Outcome::Attempted(_));
            let took = started.elapsed();
            if sent {
                telemetry::stage(Stage::Send, took);
            }
            let _ = outcomes.send((outcome, sent.then(Instant::now))).await;
            drop(slot);
            if fairness.finished(&destination, sent.then_some(took)) {
                wake.signal();
            }
        });
    }

    /// Shutdown: waits up to `grace` for the sends in flight, then aborts
    /// the rest (their leases are released by the worker).
    pub async fn finish(mut self, grace: Duration) {
        tracing::info!(in_flight = self.tasks.len(), "delivery worker stopping");
        let tasks = &mut self.tasks;
        let finished =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
                .await
                .is_ok();
        if !finished {
            tracing::warn!(
                abandoned = self.tasks.len(),
                "sends still running after the grace period"
            );
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
    }
}

/// The next waiting delivery that can still be sent within its lease.
/// Those that waited too long are let go: their lease expires and any
/// worker claims them again.
fn next_sendable(
    waiting: &mut VecDeque<Waiting>,
    fairness: &Fairness,
) -> Option<(Claimed, ClaimClock)> {
    let now = Instant::now();
    while let Some(w) = waiting.pop_front() {
        if now <= w.start_by {
            return Some((w.claimed, w.clock));
        }
        fairness.finished(&w.claimed.destination_key(), None);
        log_span(&w.claimed).in_scope(|| {
            tracing::info!("waited too long for a send slot; left for the lease to expire")
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::start_within;
    use std::time::Duration;

    #[test]
    fn a_waiting_delivery_must_start_while_its_lease_covers_send_and_record() {
        let s = Duration::from_secs;
        // Defaults: 30 s lease, 5 s timeout, 2 s to record.
        assert_eq!(start_within(s(30), s(5)), s(23));
        // Little slack: half of it is kept for recording.
        assert_eq!(start_within(s(6), s(5)), Duration::from_millis(500));
        // A lease no longer than the timeout: half the lease.
        assert_eq!(start_within(s(4), s(5)), s(2));
    }
}
