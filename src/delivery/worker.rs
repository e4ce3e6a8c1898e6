//! The delivery worker: claim → send → record.
//!
//! A worker is stateless; any number of them, in any number of processes,
//! share the queue table. One loop per process claims batches of due
//! deliveries (`deliveries/claim.sql`: `FOR UPDATE SKIP LOCKED`, a lease,
//! committed before anything is sent), hands each delivery to its own send
//! task, and goes back for more. Send tasks pass their outcomes to the
//! recorder task, which writes them in batches (see `recorder`).
//!
//! Three rules keep it fast and safe:
//!
//! - **Claim at most one batch ahead.** The loop keeps the send slots
//!   (`DELIVERY_CONCURRENCY`) busy plus at most one claimed batch waiting,
//!   claimed while the previous one is sent: a slot that frees up gets work
//!   at once. No more wait than could all start sending, and be recorded,
//!   within their lease even if every receiver hangs until the timeout; one
//!   that waited too long anyway is not sent but left to be claimed again,
//!   rather than sent while another worker may hold a newer claim. When
//!   the queue is nearly drained, claims are paced (`CLAIM_PACE`) so that
//!   each picks up what arrived meanwhile instead of a row or two per
//!   round trip.
//! - **Hold nothing across the network.** The claim commits before the send;
//!   no transaction or pooled connection is held while waiting on a
//!   receiver. A worker that dies mid-send simply lets its lease expire, and
//!   the delivery becomes due again for any worker (at-least-once).
//! - **Wake on NOTIFY, but only when asleep.** A dedicated connection
//!   `LISTEN`s on `outbound_deliveries`. Publishers notify only while some
//!   worker's row in `outbound.workers` says it is idle, because a NOTIFY in
//!   every publishing transaction serialises their commits. So a worker that
//!   finds the queue empty first marks itself idle, then looks once more
//!   (closing the race with an event committed in between), and only then
//!   sleeps — until a notification, the poll interval (which also catches
//!   retries coming due), or shutdown.
//!
//! Shutdown: the loop stops claiming, in-flight sends get a grace period to
//! finish and be recorded, and any lease still held is released so another
//! worker retries it at once instead of at lease expiry.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hyper::body::Bytes;
use tokio::sync::{mpsc, AcquireError, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::http_client::HttpSender;
use super::recorder::{self, Recorded};
use super::webhook::{self, WebhookSettings};
use crate::domain::credentials::Cipher;
use crate::domain::destination_type;
use crate::domain::retry::RetryPolicy;
use crate::store::deliveries::{self, AttemptRecord, Claimed, ClaimedDestination};
use crate::store::{self, workers, Pool, StoreError};

/// The channel publishers notify.
pub const CHANNEL: &str = "outbound_deliveries";
/// How often a worker refreshes its row while running.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// How long a worker that just had work keeps polling before going idle,
/// and how often it polls meanwhile.
const LINGER: Duration = Duration::from_millis(100);
const LINGER_POLL: Duration = Duration::from_millis(2);
/// After a claim that found less than half a batch, the next claim starts
/// no sooner than this after it: a nearly drained queue is then claimed in
/// batches of what arrived meanwhile, instead of by back-to-back round
/// trips of a row or two, each costing the database a whole statement.
const CLAIM_PACE: Duration = Duration::from_millis(1);
/// Connections of a worker's pool: the claim loop, the recorder, and the
/// occasional hold or drop from a send task.
const POOL_SIZE: usize = 4;
/// Time allowed for recording an outcome after its send, within the lease.
const RECORD_MARGIN: Duration = Duration::from_secs(2);
/// Response bodies are stored up to this many bytes (the schema checks it).
const MAX_STORED_BODY: usize = 128 * 1024;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Sends in flight at once in this process (`DELIVERY_CONCURRENCY`).
    pub concurrency: usize,
    /// Most deliveries claimed per round trip. Measured under load (`bench
    /// delivery` B): 100 → 300 took throughput from ~20k to ~22k
    /// deliveries/s; how many wait for a slot is further bounded by the
    /// lease (see `send_timeout`).
    pub batch_size: usize,
    /// How long a claim is exclusive; must outlast a send and its recording.
    pub lease: Duration,
    /// The longest a send may take (`DELIVERY_TIMEOUT_SECONDS`). A claimed
    /// delivery still waiting for a send slot when less than this (plus a
    /// margin for recording) is left of its lease is not sent: its lease
    /// runs out and it is claimed again, rather than risk two workers
    /// sending it at once.
    pub send_timeout: Duration,
    /// How often an idle worker looks at the queue without a notification.
    pub poll_interval: Duration,
    /// How long in-flight sends may finish after shutdown is requested.
    pub grace: Duration,
    pub retry: RetryPolicy,
    /// Auto-disable threshold (`ALERT_CONSECUTIVE_FAILURE_COUNT`), 0 = never.
    pub disable_after: u32,
    pub webhook: WebhookSettings,
    /// Decrypts credentials stored encrypted (None: stored as plain text).
    pub cipher: Option<Arc<Cipher>>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 64,
            batch_size: 300,
            lease: Duration::from_secs(30),
            send_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(250),
            grace: Duration::from_secs(10),
            retry: RetryPolicy::Exponential {
                interval: Duration::from_secs(30),
                max_retries: 10,
            },
            disable_after: 20,
            webhook: WebhookSettings::default(),
            cipher: None,
        }
    }
}

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
    listen_url: String,
    cfg: WorkerConfig,
    http: HttpSender,
    healthy: Arc<AtomicBool>,
    /// Wakes the claim loop: notifications from Postgres, and publishes made
    /// by this same process (which need no round trip through NOTIFY).
    wake: Arc<Notify>,
}

impl Worker {
    /// A worker on the database at `url`. It opens its own small pool, whose
    /// sessions are set up for the worker's writes (`connect_worker_pool`).
    pub fn new(
        url: String,
        cfg: WorkerConfig,
        http: HttpSender,
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
        Ok(Worker {
            inner: Arc::new(Inner {
                id,
                hostname,
                pool,
                listen_url: url,
                cfg,
                http,
                healthy,
                wake: Arc::new(Notify::new()),
            }),
        })
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// A handle that wakes this worker when something was just published.
    pub fn waker(&self) -> Arc<Notify> {
        self.inner.wake.clone()
    }

    /// Claims one batch as of `now`, sends it, records the outcomes, and
    /// returns what was recorded. The run loop pipelines these steps; tests
    /// call this to step through time without sleeping.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Recorded, StoreError> {
        let claimed = self.claim(Some(now), self.inner.cfg.batch_size).await?;
        let mut sends = JoinSet::new();
        for c in claimed {
            let this = self.clone();
            sends.spawn(async move { this.attempt(c, now).await });
        }
        let mut records = Vec::new();
        while let Some(done) = sends.join_next().await {
            if let Ok(Some(r)) = done {
                records.push(r);
            }
        }
        if records.is_empty() {
            return Ok(Recorded::default());
        }
        recorder::write(
            &self.inner.pool,
            &records,
            self.inner.cfg.disable_after,
            Some(now),
        )
        .await
    }

    async fn claim(
        &self,
        now: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let client = self.inner.pool.get().await?;
        let lease_ms = i64::try_from(self.inner.cfg.lease.as_millis()).unwrap_or(i64::MAX);
        let mut claimed =
            deliveries::claim(&client, now, limit as i64, &self.inner.id, lease_ms).await?;
        drop(client);
        self.decrypt_credentials(&mut claimed);
        Ok(claimed)
    }

    /// Decrypts the sensitive credentials of each destination in a claimed
    /// batch, once per destination. One that cannot be decrypted is left as
    /// stored: the request builder then reports what is missing.
    fn decrypt_credentials(&self, claimed: &mut [Claimed]) {
        let Some(cipher) = &self.inner.cfg.cipher else {
            return;
        };
        let mut done: HashMap<String, Arc<ClaimedDestination>> = HashMap::new();
        for c in claimed.iter_mut() {
            let Some(stored) = &c.destination else {
                continue;
            };
            if let Some(plain) = done.get(&c.destination_id) {
                c.destination = Some(plain.clone());
                continue;
            }
            let Some(kind) = destination_type::get(&stored.kind) else {
                continue;
            };
            match cipher.decrypt_sensitive(kind, &stored.credentials) {
                Ok(credentials) => {
                    let plain = Arc::new(ClaimedDestination {
                        credentials,
                        ..ClaimedDestination::clone(stored)
                    });
                    done.insert(c.destination_id.clone(), plain.clone());
                    c.destination = Some(plain);
                }
                Err(err) => tracing::warn!(
                    destination_id = %c.destination_id,
                    error = %err,
                    "cannot decrypt the destination's credentials"
                ),
            }
        }
    }

    /// Makes one attempt of a claimed delivery at `now`. Returns the record to
    /// write, or None when there was nothing to send (event expired,
    /// destination deleted or disabled — handled here).
    ///
    /// The span around the whole attempt is debug-level: creating an
    /// info-level span per delivery cost ~5% of throughput. What is logged
    /// at info and above carries the delivery's ids through `log_span`.
    async fn attempt(&self, c: Claimed, now: DateTime<Utc>) -> Option<AttemptRecord> {
        let span = tracing::debug_span!(
            "attempt",
            tenant_id = %c.tenant_id,
            destination_id = %c.destination_id,
            event_id = %c.event_id,
            attempt = c.attempt_number()
        );
        self.attempt_inner(c, now).instrument(span).await
    }

    async fn attempt_inner(&self, c: Claimed, now: DateTime<Utc>) -> Option<AttemptRecord> {
        let (event, destination) = match (&c.event, &c.destination) {
            (Some(e), Some(d)) => (e, d),
            _ => {
                let span = log_span(&c);
                span.in_scope(|| {
                    tracing::info!("event expired or destination deleted; dropping the delivery")
                });
                if let Err(err) = self
                    .with_client(|cl| async move { deliveries::drop_claimed(&cl, &c).await })
                    .await
                {
                    span.in_scope(|| {
                        tracing::warn!(error = %err, "could not drop the delivery; it will come back")
                    });
                }
                return None;
            }
        };
        if destination.disabled {
            let c2 = c.clone();
            if let Err(err) = self
                .with_client(|cl| async move { deliveries::hold_claimed(&cl, &c2).await })
                .await
            {
                log_span(&c).in_scope(|| {
                    tracing::warn!(error = %err, "could not hold the delivery; it will come back")
                });
            }
            return None;
        }

        let started = Instant::now();
        let outcome = match destination.kind.as_str() {
            "webhook" => match webhook::build(
                &self.inner.cfg.webhook,
                &c.event_id,
                event,
                destination,
                now,
            ) {
                Ok(req) => Some(
                    self.inner
                        .http
                        .post(&req.url, &req.headers, Bytes::from(req.body))
                        .await,
                ),
                Err(err) => {
                    log_span(&c).in_scope(
                        || tracing::warn!(error = %err, "cannot build the webhook request"),
                    );
                    None
                }
            },
            other => {
                log_span(&c).in_scope(|| {
                    tracing::warn!(
                        kind = other,
                        "destination type not supported by this worker"
                    )
                });
                None
            }
        };

        let (success, code, status, headers, body, retry_after, duration) = match outcome {
            Some(out) => match out.result {
                Ok(resp) => {
                    let success = resp.is_success();
                    // Retry-After only means "come back later" on these.
                    let retry_after = matches!(resp.status, 429 | 503)
                        .then_some(resp.retry_after)
                        .flatten();
                    let headers: serde_json::Map<String, serde_json::Value> = resp
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                        .collect();
                    (
                        success,
                        resp.status.to_string(),
                        Some(i32::from(resp.status)),
                        Some(serde_json::Value::Object(headers).to_string()),
                        Some(truncate(resp.body, MAX_STORED_BODY)),
                        retry_after,
                        out.duration,
                    )
                }
                Err(failure) => {
                    log_span(&c).in_scope(|| {
                        tracing::info!(code = %failure.code, detail = %failure.detail, "attempt failed")
                    });
                    (
                        false,
                        failure.code.as_str().to_string(),
                        None,
                        None,
                        None,
                        None,
                        out.duration,
                    )
                }
            },
            None => {
                let code = if destination.kind == "webhook" {
                    "invalid_destination_config"
                } else {
                    "unsupported_destination_type"
                };
                (
                    false,
                    code.to_string(),
                    None,
                    None,
                    None,
                    None,
                    started.elapsed(),
                )
            }
        };

        let attempt_number = c.attempt_number();
        let next_attempt_at = if success || !c.retry {
            None
        } else {
            let n = u32::try_from(attempt_number).unwrap_or(u32::MAX);
            self.inner
                .cfg
                .retry
                .delay_after(n, retry_after, rand::random::<f64>())
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| now + d)
        };
        Some(AttemptRecord {
            event_id: c.event_id,
            destination_id: c.destination_id,
            claims: c.claims,
            tenant_id: c.tenant_id,
            event_time: c.event_time,
            attempt_number,
            manual: c.manual,
            success,
            next_attempt_at,
            code,
            response_status: status,
            response_headers: headers,
            response_body: body,
            duration_ms: i32::try_from(duration.as_millis()).unwrap_or(i32::MAX),
            attempted_at: now,
        })
    }

    async fn with_client<F, Fut, T>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(deadpool_postgres::Object) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let client = self.inner.pool.get().await?;
        f(client).await
    }

    /// Sends one claimed delivery in its own task, holding a send slot, and
    /// hands the outcome to the recorder.
    fn spawn_send(
        &self,
        sends: &mut JoinSet<()>,
        c: Claimed,
        permit: OwnedSemaphorePermit,
        tx: &mpsc::Sender<AttemptRecord>,
    ) {
        let (this, tx) = (self.clone(), tx.clone());
        sends.spawn(async move {
            if let Some(record) = this.attempt(c, Utc::now()).await {
                let _ = tx.send(record).await;
            }
            drop(permit);
        });
    }

    /// Gives a freed send slot to the next buffered delivery, if any.
    /// False when the slots are closed.
    fn dispatch(
        &self,
        slot: Result<OwnedSemaphorePermit, AcquireError>,
        buffer: &mut VecDeque<Buffered>,
        sends: &mut JoinSet<()>,
        tx: &mpsc::Sender<AttemptRecord>,
    ) -> bool {
        let Ok(permit) = slot else {
            return false;
        };
        if let Some(c) = next_sendable(buffer) {
            self.spawn_send(sends, c, permit, tx);
        }
        true
    }

    async fn set_idle(&self, idle: bool) -> Result<(), StoreError> {
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

    /// Runs until `cancel` fires, then shuts down gracefully.
    pub async fn run(self, cancel: CancellationToken) {
        let cfg = &self.inner.cfg;
        tracing::info!(worker_id = %self.inner.id, concurrency = cfg.concurrency, "delivery worker started");
        let wake = self.inner.wake.clone();
        let listener = tokio::spawn(listen(
            self.inner.listen_url.clone(),
            wake.clone(),
            cancel.clone(),
        ));
        let (tx, rx) = mpsc::channel(cfg.concurrency + recorder::MAX_BATCH);
        let recorder_stop = CancellationToken::new();
        let mut recorder = tokio::spawn(recorder::run(
            self.inner.pool.clone(),
            rx,
            cfg.disable_after,
            recorder_stop.clone(),
        ));
        let permits = Arc::new(Semaphore::new(cfg.concurrency));
        let mut sends = JoinSet::new();
        // Our idle flag as last written; None until the first write lands.
        let mut idle: Option<bool> = None;
        let mut last_beat = Instant::now();
        let mut backoff = Duration::from_millis(100);
        let mut last_work = Instant::now() - LINGER;
        // Claimed deliveries waiting for a send slot: at most about one
        // batch, claimed while the previous one is being sent, so a slot that
        // frees up gets work without waiting for a claim round trip.
        let mut buffer: VecDeque<Buffered> = VecDeque::new();
        // How soon after its claim a delivery must start sending for the
        // send and its recording to finish within the lease.
        let start_within = start_within(cfg.lease, cfg.send_timeout);
        // A slot frees up at least every send_timeout, so this many claimed
        // deliveries waiting for slots all start in time even if every
        // receiver hangs until the timeout; `next_sendable` is the safety net.
        let rounds = start_within.as_millis() / cfg.send_timeout.as_millis().max(1);
        let ahead = cfg.batch_size.min(
            cfg.concurrency
                .saturating_mul(usize::try_from(rounds).unwrap_or(usize::MAX)),
        );
        let capacity = cfg.concurrency + ahead;
        let claim_threshold = (cfg.batch_size.min(capacity) / 2).max(1);
        // When the next claim may start (see CLAIM_PACE).
        let mut next_claim = Instant::now();

        while !cancel.is_cancelled() {
            while sends.try_join_next().is_some() {}
            while let Some(permit) = (!buffer.is_empty())
                .then(|| permits.clone().try_acquire_owned().ok())
                .flatten()
            {
                if let Some(c) = next_sendable(&mut buffer) {
                    self.spawn_send(&mut sends, c, permit, &tx);
                }
            }
            // Claim in worthwhile batches: while work is in flight, wait
            // until half a batch fits rather than claiming a few rows per
            // round trip.
            let in_flight = cfg.concurrency - permits.available_permits();
            let busy = in_flight + buffer.len();
            let room = capacity.saturating_sub(busy);
            if room == 0 || (busy > 0 && room < claim_threshold) {
                tokio::select! {
                    p = permits.clone().acquire_owned() => {
                        if !self.dispatch(p, &mut buffer, &mut sends, &tx) {
                            break;
                        }
                    }
                    _ = cancel.cancelled() => break,
                }
                continue;
            }
            if Instant::now() < next_claim {
                // Buffered work still goes to slots while we wait.
                tokio::select! {
                    p = permits.clone().acquire_owned(), if !buffer.is_empty() => {
                        if !self.dispatch(p, &mut buffer, &mut sends, &tx) {
                            break;
                        }
                    }
                    _ = tokio::time::sleep_until(next_claim.into()) => {}
                    _ = cancel.cancelled() => break,
                }
                continue;
            }
            // While the claim is out, buffered work still goes to slots as
            // they free up.
            let claim_started = Instant::now();
            let claim = self.claim(None, room.min(cfg.batch_size));
            tokio::pin!(claim);
            let result = loop {
                tokio::select! {
                    r = &mut claim => break r,
                    p = permits.clone().acquire_owned(), if !buffer.is_empty() => {
                        self.dispatch(p, &mut buffer, &mut sends, &tx);
                    }
                }
            };
            let claimed = match result {
                Ok(c) => {
                    self.inner.healthy.store(true, Ordering::Relaxed);
                    backoff = Duration::from_millis(100);
                    c
                }
                Err(err) => {
                    self.inner.healthy.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %err, "claiming failed; retrying");
                    idle = None;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = cancel.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            };

            if claimed.is_empty() && !buffer.is_empty() {
                // Nothing new, but claimed work is still waiting for a slot.
                tokio::select! {
                    p = permits.clone().acquire_owned() => {
                        if !self.dispatch(p, &mut buffer, &mut sends, &tx) {
                            break;
                        }
                    }
                    _ = cancel.cancelled() => break,
                }
            } else if claimed.is_empty() {
                // Under steady load the queue is often empty for a moment.
                // Going idle then would make every publisher NOTIFY (which
                // serialises their commits), so a worker that found work
                // recently polls briefly before it declares itself idle.
                if last_work.elapsed() < LINGER {
                    tokio::select! {
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(LINGER_POLL) => {}
                        _ = cancel.cancelled() => break,
                    }
                    continue;
                }
                if idle != Some(true) {
                    // Mark idle *before* sleeping, then claim once more.
                    if self.set_idle(true).await.is_ok() {
                        idle = Some(true);
                        last_beat = Instant::now();
                    }
                    continue;
                }
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(cfg.poll_interval) => {}
                    _ = cancel.cancelled() => break,
                }
            } else {
                last_work = Instant::now();
                if claimed.len() < claim_threshold {
                    next_claim = claim_started + CLAIM_PACE;
                }
                if idle != Some(false) && self.set_idle(false).await.is_ok() {
                    idle = Some(false);
                    last_beat = Instant::now();
                }
                let start_by = claim_started + start_within;
                buffer.extend(
                    claimed
                        .into_iter()
                        .map(|claimed| Buffered { claimed, start_by }),
                );
            }
            if last_beat.elapsed() >= HEARTBEAT {
                if let Err(err) = self.set_idle(idle.unwrap_or(false)).await {
                    tracing::warn!(error = %err, "heartbeat failed");
                }
                last_beat = Instant::now();
            }
        }

        // Shutdown: no more claims. In-flight sends get the grace period.
        let grace = cfg.grace;
        tracing::info!(in_flight = sends.len(), "delivery worker stopping");
        let finished =
            tokio::time::timeout(grace, async { while sends.join_next().await.is_some() {} })
                .await
                .is_ok();
        if !finished {
            tracing::warn!(
                abandoned = sends.len(),
                "sends still running after the grace period"
            );
            sends.abort_all();
            while sends.join_next().await.is_some() {}
        }
        drop(tx);
        if tokio::time::timeout(grace, &mut recorder).await.is_err() {
            recorder_stop.cancel();
            let _ = recorder.await;
        }
        // Whatever is still leased by us was not recorded: give it back.
        if let Ok(client) = self.inner.pool.get().await {
            match deliveries::release(&client, &self.inner.id).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(released = n, "leases released for immediate retry"),
                Err(err) => {
                    tracing::warn!(error = %err, "could not release leases; they will expire")
                }
            }
            let _ = workers::deregister(&client, &self.inner.id).await;
        }
        self.inner.pool.close();
        listener.abort();
        tracing::info!("delivery worker stopped");
    }
}

/// A claimed delivery waiting for a send slot.
struct Buffered {
    claimed: Claimed,
    /// Sent only if a slot frees up before this (see `send_timeout`).
    start_by: Instant,
}

/// How soon after its claim a delivery must start sending: what the lease
/// leaves after a send that takes the whole timeout, less time to record
/// it (up to RECORD_MARGIN, at most half of what is left). A lease no longer
/// than the timeout (allowed only in tests) leaves half the lease.
fn start_within(lease: Duration, send_timeout: Duration) -> Duration {
    let slack = lease.saturating_sub(send_timeout);
    if slack.is_zero() {
        return lease / 2;
    }
    slack - RECORD_MARGIN.min(slack / 2)
}

/// The next buffered delivery that can still be sent within its lease.
/// Those that waited too long are let go: their lease expires and any
/// worker claims them again.
fn next_sendable(buffer: &mut VecDeque<Buffered>) -> Option<Claimed> {
    let now = Instant::now();
    while let Some(b) = buffer.pop_front() {
        if now <= b.start_by {
            return Some(b.claimed);
        }
        log_span(&b.claimed).in_scope(|| {
            tracing::info!("waited too long for a send slot; left for the lease to expire")
        });
    }
    None
}

/// Keeps a connection LISTENing on the channel and turns notifications into
/// wake-ups, reconnecting after a failure. After every (re)connect it wakes
/// the worker once: notifications sent while disconnected are lost.
async fn listen(url: String, wake: Arc<Notify>, cancel: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let connected = async {
            let mut config: tokio_postgres::Config = url.parse()?;
            config.connect_timeout(Duration::from_secs(5));
            config.connect(NoTls).await
        };
        let (client, mut conn) = tokio::select! {
            r = connected => match r {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::debug!(error = %err, "LISTEN connection failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = cancel.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
        };
        // Drive the connection ourselves to see its notifications.
        let wake2 = wake.clone();
        let driver = async move {
            while let Some(Ok(msg)) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                if let AsyncMessage::Notification(_) = msg {
                    wake2.notify_one();
                }
            }
        };
        tokio::pin!(driver);
        let listen_sql = format!("LISTEN {CHANNEL}");
        let subscribed = tokio::select! {
            r = client.batch_execute(&listen_sql) => r.is_ok(),
            _ = &mut driver => false,
            _ = cancel.cancelled() => return,
        };
        if subscribed {
            backoff = Duration::from_millis(200);
            wake.notify_one();
            tokio::select! {
                _ = &mut driver => tracing::debug!("LISTEN connection closed; reconnecting"),
                _ = cancel.cancelled() => return,
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// The context of a log line about one delivery attempt.
fn log_span(c: &Claimed) -> tracing::Span {
    tracing::info_span!(
        "attempt",
        tenant_id = %c.tenant_id,
        destination_id = %c.destination_id,
        event_id = %c.event_id,
        attempt = c.attempt_number()
    )
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::{start_within, truncate};
    use std::time::Duration;

    #[test]
    fn a_buffered_delivery_must_start_while_its_lease_covers_send_and_record() {
        let s = Duration::from_secs;
        // Defaults: 30 s lease, 5 s timeout, 2 s to record.
        assert_eq!(start_within(s(30), s(5)), s(23));
        // Little slack: half of it is kept for recording.
        assert_eq!(start_within(s(6), s(5)), Duration::from_millis(500));
        // A lease no longer than the timeout: half the lease.
        assert_eq!(start_within(s(4), s(5)), s(2));
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo".into(), 2), "h");
        assert_eq!(truncate("héllo".into(), 3), "hé");
        assert_eq!(truncate("abc".into(), 10), "abc");
    }
}
