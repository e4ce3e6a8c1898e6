//! The delivery worker: claim → send → record.
//!
//! A worker is stateless; any number of them, in any number of processes,
//! share the queue table. One loop per process claims batches of due
//! deliveries (`deliveries/claim.sql`: `FOR UPDATE SKIP LOCKED`, a lease,
//! committed before anything is sent), hands each delivery to a send slot
//! (`sending`), and goes back for more. Send tasks pass their outcomes to
//! the recorder task, which writes them in batches (`recorder`).
//!
//! Three rules keep it fast and safe:
//!
//! - **Claim at most one batch ahead.** The loop keeps the send slots
//!   (`DELIVERY_CONCURRENCY`) busy plus at most one claimed batch waiting,
//!   claimed while the previous one is sent: a slot that frees up gets work
//!   at once. No more wait than could all start sending, and be recorded,
//!   within their lease even if every receiver hangs until the timeout.
//!   When the queue is nearly drained, claims are paced (`CLAIM_PACE`) so
//!   that each picks up what arrived meanwhile instead of a row or two per
//!   round trip.
//! - **Hold nothing across the network.** The claim commits before the send;
//!   no transaction or pooled connection is held while waiting on a
//!   receiver. A worker that dies mid-send simply lets its lease expire, and
//!   the delivery becomes due again for any worker (at-least-once).
//! - **Wake on NOTIFY, but only when asleep.** A dedicated connection
//!   `LISTEN`s (`store::wakeups`). Publishers notify only while some
//!   worker's row in `outbound.workers` says it is idle, because a NOTIFY in
//!   every publishing transaction serialises their commits; the first of
//!   them clears the flag as it notifies (a latch, see V14). So a worker that
//!   finds the queue empty keeps looking for a few milliseconds (under load
//!   the queue is empty only for a moment), then marks itself idle, looks
//!   once more (closing the race with an event committed in between), and
//!   only then sleeps — until a notification, a look at the queue (1 ms,
//!   2 ms, 4 ms… after, up to the poll interval, which also catches retries
//!   coming due), or shutdown. Its flag write never waits for a
//!   publisher's transaction (`workers/upsert.sql`). A trickle (a claim of
//!   a row or two, work 3 ms or more apart) declares idle right after its
//!   claim instead of claiming again to find the queue empty.
//!
//! The loop in [`Worker::run`] is one [`Worker::step`] after another: start
//! what can start, then either wait for room, wait out the pace, or claim
//! and queue what the claim found.
//!
//! Shutdown: the loop stops claiming, in-flight sends get a grace period to
//! finish and be recorded, and any lease still held is released so another
//! worker retries it at once instead of at lease expiry.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::attempt::Attempter;
use super::fairness::Fairness;
use super::recorder::{self, Recorded};
use super::sending::{ClaimClock, Sending};
use crate::store::deliveries::{self, Claimed};
use crate::store::wakeups::{self, Wakeup};
use crate::store::{self, citus, workers, Pool, StoreError};

mod config;
mod housekeeping;
mod shards;
mod state;

use shards::Shards;

use state::LoopState;

pub use config::WorkerConfig;

/// How long a worker under load keeps looking at the queue before it
/// declares itself idle, and how often it looks meanwhile: under load the
/// queue is often empty for a moment, and going idle then would make
/// publishers NOTIFY (which serialises their commits). Each look is an
/// index probe, not a claim.
const LINGER: Duration = Duration::from_millis(3);
const LOOK: Duration = Duration::from_millis(1);
/// A worker is under load while the claims that find work come less than
/// LINGER apart on average (a moving average of the gaps, each weighing
/// this much). One that finds work now and then declares itself idle at
/// once: lingering would only make its next event wait for a look instead
/// of a NOTIFY.
const GAP_WEIGHT: f64 = 0.2;
/// A claim of at most this many rows, when work comes LINGER or more
/// apart, is a trickle: the worker declares itself idle right after it.
const TRICKLE: usize = 2;
/// On Citus (no NOTIFY): a worker that just had work claims every
/// CITUS_LINGER_POLL for CITUS_LINGER before it sleeps longer.
const CITUS_LINGER: Duration = Duration::from_millis(100);
const CITUS_LINGER_POLL: Duration = Duration::from_millis(2);
/// On Citus, the longest an idle worker sleeps between looks at the queue:
/// the most a SQL publish waits there before a worker sees it.
const CITUS_IDLE_POLL: Duration = Duration::from_millis(50);
/// After a claim that found less than half a batch, the next claim starts
/// no sooner than this after it: a nearly drained queue is then claimed in
/// batches of what arrived meanwhile, instead of by back-to-back round
/// trips of a row or two, each costing the database a whole statement.
const CLAIM_PACE: Duration = Duration::from_millis(1);
/// How often a worker asks whether ordered delivery is in use (a
/// destination that turns it on waits at most this for its first pass).
const ORDERED_RECHECK: Duration = Duration::from_millis(250);
/// The most newly published ordered deliveries one sequencing pass moves on.
const SEQUENCE_BATCH: i32 = 1000;
/// Connections of a worker's pool: the claim loop, the recorder, and the
/// idle flag.
const POOL_SIZE: usize = 4;

/// A worker. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    hostname: String,
    pool: Pool,
    /// URL for the LISTEN connection (not pooled: it lives as long as the worker).
    url: String,
    cfg: WorkerConfig,
    attempter: Arc<Attempter>,
    healthy: Arc<AtomicBool>,
    /// Wakes the claim loop: notifications from Postgres, publishes made
    /// by this same process (which need no round trip through NOTIFY), and
    /// sends to slow destinations that end (their parked deliveries may go).
    wake: Arc<Wakeup>,
    fairness: Arc<Fairness>,
    /// Whether the queue is distributed (Citus), found out at the first claim.
    citus: tokio::sync::OnceCell<bool>,
    /// On Citus: the shard groups this process claims from.
    shards: tokio::sync::Mutex<Shards>,
    /// On Citus: each tenant's shard group, for the recorder.
    groups: recorder::ShardGroups,
    /// Whether ordered delivery is in use, and when that was last asked.
    ordered: std::sync::Mutex<Option<(Instant, bool)>>,
}

impl Worker {
    /// A worker on the database at `url`. It opens its own small pool, whose
    /// sessions are set up for the worker's writes (`connect_worker_pool`).
    pub fn new(
        url: String,
        cfg: WorkerConfig,
        attempter: Attempter,
        healthy: Arc<AtomicBool>,
    ) -> Result<Worker, StoreError> {
        let pool = store::connect_worker_pool(&url, POOL_SIZE)?;
        let hostname = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let id = format!(
            "{hostname}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let fairness = Arc::new(Fairness::new(
            cfg.destination_cap,
            cfg.concurrency,
            LoopState::new(&cfg).capacity,
            cfg.circuit_after,
        ));
        Ok(Worker {
            inner: Arc::new(Inner {
                id,
                hostname,
                pool,
                url,
                cfg,
                attempter: Arc::new(attempter),
                healthy,
                wake: Arc::default(),
                fairness,
                citus: tokio::sync::OnceCell::new(),
                shards: Default::default(),
                groups: Default::default(),
                ordered: Default::default(),
            }),
        })
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The worker's own pool (its gauges are in `/metrics`).
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// A handle that wakes this worker when something was just published.
    pub fn waker(&self) -> Arc<Wakeup> {
        self.inner.wake.clone()
    }

    /// Claims one batch as of `now`, sends it, records the outcomes, and
    /// returns what was recorded. The run loop pipelines these steps; tests
    /// call this to step through time without sleeping.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Recorded, StoreError> {
        let claimed = self.claim(Some(now), self.inner.cfg.batch_size).await?;
        let fairness = self.inner.fairness.clone();
        fairness.claimed(&claimed);
        let mut sends = JoinSet::new();
        for c in claimed {
            let attempter = self.inner.attempter.clone();
            let fairness = fairness.clone();
            sends.spawn(async move {
                let destination = c.destination_key();
                let outcome = attempter.attempt(c, now).await;
                fairness.finished(&destination, None);
                outcome
            });
        }
        let mut outcomes = Vec::new();
        while let Some(done) = sends.join_next().await {
            if let Ok(outcome) = done {
                outcomes.push(outcome);
            }
        }
        if outcomes.is_empty() {
            return Ok(Recorded::default());
        }
        let mut recorded = Recorded::default();
        let routed = self.inner.groups.routed();
        for part in self.inner.groups.split(outcomes) {
            recorded.add(
                recorder::write(
                    &self.inner.pool,
                    &part,
                    self.inner.cfg.thresholds(),
                    &self.inner.attempter.circuits,
                    Some(now),
                    routed,
                )
                .await?,
            );
        }
        Ok(recorded)
    }

    async fn claim(
        &self,
        now: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let client = self.inner.pool.get().await?;
        let citus = *self
            .inner
            .citus
            .get_or_try_init(|| citus::is_distributed(&client))
            .await?;
        if !citus && self.ordered_in_use(&client).await? {
            deliveries::sequence(&client, SEQUENCE_BATCH).await?;
        }
        let mut claimed = match citus {
            false => self.claim_from(&client, now, limit, None).await?,
            true => self.claim_routed(&client, now, limit).await?,
        };
        drop(client);
        self.inner.attempter.decrypt_credentials(&mut claimed);
        Ok(claimed)
    }

    /// Whether ordered delivery was in use when last asked (no query).
    fn ordered_known(&self) -> bool {
        let known = *self.inner.ordered.lock().unwrap_or_else(|e| e.into_inner());
        known.is_some_and(|(_, in_use)| in_use)
    }

    /// Whether to sequence ordered deliveries before claiming; asked of
    /// the database at most every ORDERED_RECHECK.
    async fn ordered_in_use(&self, client: &deadpool_postgres::Object) -> Result<bool, StoreError> {
        let known = *self.inner.ordered.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, in_use)) = known {
            if at.elapsed() < ORDERED_RECHECK {
                return Ok(in_use);
            }
        }
        let in_use = deliveries::ordered_in_use(client).await?;
        *self.inner.ordered.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), in_use));
        Ok(in_use)
    }

    pub(super) async fn claim_from(
        &self,
        client: &deadpool_postgres::Object,
        now: Option<DateTime<Utc>>,
        limit: usize,
        tenants: Option<&[crate::domain::ids::TenantId]>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let lease_ms = i64::try_from(self.inner.cfg.lease.as_millis()).unwrap_or(i64::MAX);
        let limits = self.inner.fairness.limits();
        deliveries::claim(
            client,
            now,
            limit as i64,
            &self.inner.id,
            lease_ms,
            &limits,
            tenants,
        )
        .await
    }

    /// Runs until `cancel` fires, then shuts down gracefully.
    pub async fn run(self, cancel: CancellationToken) {
        let cfg = &self.inner.cfg;
        tracing::info!(worker_id = %self.inner.id, concurrency = cfg.concurrency, "delivery worker started");
        let listener = tokio::spawn(wakeups::listen(
            self.inner.url.clone(),
            self.inner.wake.clone(),
            cancel.clone(),
        ));
        let (tx, rx) = mpsc::channel(cfg.concurrency + recorder::MAX_BATCH);
        let recorder_stop = CancellationToken::new();
        let mut recorder = tokio::spawn(recorder::run(
            self.inner.pool.clone(),
            rx,
            cfg.thresholds(),
            self.inner.attempter.circuits.clone(),
            self.inner.groups.clone(),
            recorder_stop.clone(),
        ));
        let mut sending = Sending::new(
            cfg.concurrency,
            self.inner.attempter.clone(),
            tx,
            self.inner.fairness.clone(),
            self.inner.wake.clone(),
        );
        let mut state = LoopState::new(cfg);

        while !cancel.is_cancelled() {
            if self
                .step(&mut state, &mut sending, &cancel)
                .await
                .is_break()
            {
                break;
            }
            self.heartbeat(&mut state).await;
            self.sweep_held(&mut state).await;
        }

        // Shutdown: no more claims. In-flight sends get the grace period,
        // then the recorder writes what they produced.
        sending.finish(cfg.grace).await;
        if tokio::time::timeout(cfg.grace, &mut recorder)
            .await
            .is_err()
        {
            recorder_stop.cancel();
            let _ = recorder.await;
        }
        self.release_and_deregister().await;
        self.inner.pool.close();
        listener.abort();
        tracing::info!("delivery worker stopped");
    }

    /// One turn of the loop: start what can start, then wait for room,
    /// wait out the pace, or claim. Break on shutdown.
    async fn step(
        &self,
        state: &mut LoopState,
        sending: &mut Sending,
        cancel: &CancellationToken,
    ) -> ControlFlow<()> {
        sending.start_ready();
        // Claim in worthwhile batches: while work is in flight, wait until
        // half a batch fits rather than claiming a few rows per round trip.
        let busy = sending.busy();
        let room = state.capacity.saturating_sub(busy);
        if room == 0 || (busy > 0 && room < state.claim_threshold) {
            return next_slot(sending, cancel).await;
        }
        if state.asleep {
            return self.sleep(state, cancel).await;
        }
        if Instant::now() < state.next_claim {
            // Waiting work still goes to slots while we wait.
            let waiting = sending.has_waiting();
            tokio::select! {
                more = sending.next_slot(), if waiting => if !more { return ControlFlow::Break(()) },
                _ = tokio::time::sleep_until(state.next_claim.into()) => {}
                _ = cancel.cancelled() => return ControlFlow::Break(()),
            }
            return ControlFlow::Continue(());
        }
        let started = Instant::now();
        state.last_claim = started;
        // Woken by a signal, or by a timer (a poll, the pace, a free slot).
        let woken = self
            .inner
            .wake
            .take_first()
            .map_or(started, |w| w.min(started));
        let limit = room.min(self.inner.cfg.batch_size);
        let claimed = match sending.meanwhile(self.claim(None, limit)).await {
            Ok(claimed) => claimed,
            Err(err) => return self.claim_failed(err, state, cancel).await,
        };
        self.inner.healthy.store(true, Ordering::Relaxed);
        state.backoff = Duration::from_millis(100);
        if !claimed.is_empty() {
            let now = Instant::now();
            let clock = ClaimClock {
                woken,
                woken_at: Utc::now() - (now - woken),
                claimed: now,
            };
            self.found(claimed, limit, started, clock, state, sending);
            ControlFlow::Continue(())
        } else if sending.has_waiting() {
            // Nothing new, but claimed work is still waiting for a slot.
            next_slot(sending, cancel).await
        } else {
            self.nothing_due(state, cancel).await
        }
    }

    /// A claim found work: queue it for the send slots.
    fn found(
        &self,
        claimed: Vec<Claimed>,
        limit: usize,
        started: Instant,
        clock: ClaimClock,
        state: &mut LoopState,
        sending: &mut Sending,
    ) {
        let gap = state.last_work.elapsed().min(LINGER * 10);
        state.work_gap = state.work_gap.mul_f64(1.0 - GAP_WEIGHT) + gap.mul_f64(GAP_WEIGHT);
        state.last_work = Instant::now();
        if claimed.len() < state.claim_threshold {
            state.next_claim = started + CLAIM_PACE;
        }
        // A trickle: a row or two, LINGER or more after the last work and
        // as far apart on average, all of it taken (the claim was not cut
        // short by its limit) and about to start sending. The queue is
        // drained, and claiming again would only find it so. Declare idle
        // at once (that write looks at the queue once more), as after an
        // empty claim: one statement a delivery fewer, and the worker is
        // back asleep, to be woken by the next commit, a claim's round trip
        // sooner. Anything more keeps the pace: a worker declared idle
        // between bursts makes a publisher NOTIFY each time, and that cost
        // bench delivery A a fifth of its rate. Ordered delivery keeps
        // claiming too: its claims also move the lanes on.
        let trickle = claimed.len() <= TRICKLE
            && claimed.len() < limit
            && claimed.len() <= sending.free_slots()
            && gap >= LINGER
            && state.work_gap >= LINGER;
        // On Citus, no NOTIFY wakes a sleeper: its worker polls instead.
        let citus = self.inner.citus.get() == Some(&true);
        if trickle && !citus && !self.ordered_known() {
            state.lingering = false;
            state.asleep = true;
            state.idle_poll = LOOK;
        }
        // The idle flag is not cleared here: the first publisher to see it
        // clears it (the latch), so a busy worker whose flag is still set
        // costs one NOTIFY, while a write here would hold these deliveries
        // back for a round trip. Whether it is still set is unknown now.
        state.idle = None;
        sending.queue(claimed, clock, started + state.start_within);
    }

    /// The queue has nothing due. A worker that had work within LINGER
    /// keeps looking every LOOK; after that it declares itself idle and
    /// sleeps until a publisher wakes it. Declaring comes *before*
    /// sleeping, and is followed by one more look at the queue, so an
    /// event committed in between is not missed.
    async fn nothing_due(
        &self,
        state: &mut LoopState,
        cancel: &CancellationToken,
    ) -> ControlFlow<()> {
        if self.inner.citus.get() == Some(&true) {
            return self.nothing_due_citus(state, cancel).await;
        }
        state.lingering = state.work_gap < LINGER;
        state.asleep = true;
        state.idle_poll = LOOK;
        self.sleep(state, cancel).await
    }

    /// One sleep of a worker with nothing due, then a look at the queue:
    /// asleep until a wake-up, or until a look finds something due.
    ///
    /// One race is left once the worker has declared itself idle: a
    /// publisher whose fan-out read the flag before it was set, and that
    /// committed after the last look, neither notifies nor is seen. So
    /// the sleeps are short at first and double (1 ms, 2 ms, 4 ms… up to
    /// the poll interval, which also catches retries coming due).
    async fn sleep(&self, state: &mut LoopState, cancel: &CancellationToken) -> ControlFlow<()> {
        let linger = state.lingering && state.last_work.elapsed() < LINGER;
        if state.idle != Some(true) && !linger {
            match self.declare_idle().await {
                Ok(due) => {
                    state.idle = Some(true);
                    state.last_beat = Instant::now();
                    if due {
                        state.asleep = false;
                        return ControlFlow::Continue(());
                    }
                }
                Err(err) => {
                    state.asleep = false;
                    return self.claim_failed(err, state, cancel).await;
                }
            }
        }
        let sleep = state.idle_poll;
        if state.idle == Some(true) {
            state.idle_poll = (sleep * 2).min(self.inner.cfg.poll_interval);
        }
        tokio::select! {
            // A publisher that wakes us clears our flag (fan_out()'s
            // latch): it must be set again before the next sleep, even if
            // this wake-up finds nothing.
            _ = self.inner.wake.notified() => {
                state.idle = None;
                state.asleep = false;
                return ControlFlow::Continue(());
            }
            _ = tokio::time::sleep(sleep) => {}
            _ = cancel.cancelled() => return ControlFlow::Break(()),
        }
        // A full claim at least every poll interval: parked deliveries
        // (their destination's circuit open, or no room for them) come
        // back only through a claim, and the look does not ask for them.
        if state.last_claim.elapsed() >= self.inner.cfg.poll_interval {
            state.asleep = false;
            return ControlFlow::Continue(());
        }
        match self.any_due().await {
            Ok(due) => {
                state.asleep = !due;
                ControlFlow::Continue(())
            }
            Err(err) => {
                state.asleep = false;
                self.claim_failed(err, state, cancel).await
            }
        }
    }

    /// On Citus, where a SQL publish cannot wake anyone: a worker that just
    /// had work claims every CITUS_LINGER_POLL for CITUS_LINGER, then
    /// sleeps, starting short and doubling while nothing turns up, to at
    /// most CITUS_IDLE_POLL.
    async fn nothing_due_citus(
        &self,
        state: &mut LoopState,
        cancel: &CancellationToken,
    ) -> ControlFlow<()> {
        let sleep = if state.last_work.elapsed() < CITUS_LINGER {
            state.idle_poll = CITUS_LINGER_POLL;
            CITUS_LINGER_POLL
        } else {
            let sleep = state.idle_poll.max(CITUS_LINGER_POLL);
            let most = self.inner.cfg.poll_interval.min(CITUS_IDLE_POLL);
            state.idle_poll = (sleep * 2).min(most);
            sleep
        };
        tokio::select! {
            _ = self.inner.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = cancel.cancelled() => return ControlFlow::Break(()),
        }
        ControlFlow::Continue(())
    }

    /// Sets the idle flag, then looks at the queue once more (one round
    /// trip). A check of ordered delivery past half its age rides along
    /// (here and in every look), so that the claim that follows a wake-up
    /// need not ask it first.
    async fn declare_idle(&self) -> Result<bool, StoreError> {
        let client = self.inner.pool.get().await?;
        let (due, ordered) = workers::idle_then_any_due(
            &client,
            &self.inner.id,
            &self.inner.hostname,
            i32::try_from(std::process::id()).unwrap_or(0),
            self.ordered_aging(),
        )
        .await?;
        self.ordered_learned(ordered);
        Ok(due)
    }

    /// Whether the ordered-delivery check is past half its age (or was
    /// never made): a look at the queue then asks it too.
    fn ordered_aging(&self) -> bool {
        let known = *self.inner.ordered.lock().unwrap_or_else(|e| e.into_inner());
        known.is_none_or(|(at, _)| at.elapsed() >= ORDERED_RECHECK / 2)
    }

    fn ordered_learned(&self, in_use: Option<bool>) {
        if let Some(in_use) = in_use {
            *self.inner.ordered.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((Instant::now(), in_use));
        }
    }

    async fn any_due(&self) -> Result<bool, StoreError> {
        let client = self.inner.pool.get().await?;
        let (due, ordered) = workers::any_due(&client, self.ordered_aging()).await?;
        self.ordered_learned(ordered);
        Ok(due)
    }

    /// The database refused or could not be reached: unhealthy, back off.
    async fn claim_failed(
        &self,
        err: StoreError,
        state: &mut LoopState,
        cancel: &CancellationToken,
    ) -> ControlFlow<()> {
        self.inner.healthy.store(false, Ordering::Relaxed);
        tracing::warn!(error = %err, "claiming failed; retrying");
        state.idle = None;
        tokio::select! {
            _ = tokio::time::sleep(state.backoff) => {}
            _ = cancel.cancelled() => return ControlFlow::Break(()),
        }
        state.backoff = (state.backoff * 2).min(Duration::from_secs(2));
        ControlFlow::Continue(())
    }
}

/// Waits for a send slot to free up (and fills it), or for shutdown.
async fn next_slot(sending: &mut Sending, cancel: &CancellationToken) -> ControlFlow<()> {
    tokio::select! {
        more = sending.next_slot() => if more { ControlFlow::Continue(()) } else { ControlFlow::Break(()) },
        _ = cancel.cancelled() => ControlFlow::Break(()),
    }
}
