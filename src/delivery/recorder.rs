//! Recording outcomes: one transaction per batch writes the attempts, moves
//! the queue rows on, keeps the destinations' failure streaks and circuit
//! breakers, auto-disables, holds the deliveries of disabled destinations,
//! and holds, drops or postpones the claimed deliveries that were not sent.
//! The operator events they raise go into the outbox in the same
//! transaction: the alerts, and with `attempt.success` / `attempt.failed`
//! on, one per attempt (off, not one more statement).
//!
//! These writes use `synchronous_commit = off` (set for the worker's
//! sessions by `store::connect_worker_pool`): if Postgres crashes before
//! the WAL is flushed, the last few outcomes are lost and those deliveries
//! are sent again when their lease expires — a duplicate, which
//! at-least-once delivery allows. Event inserts stay fully durable.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::attempt::Outcome;
use super::circuits::OpenCircuits;
use super::operator_events;
use crate::domain::attempt_code::AttemptCode;
use crate::domain::ids::{DestinationId, DestinationKey, EventId, TenantId};
use crate::store::deliveries::{
    self, AttemptRecord, ClaimKey, DestinationCount, DestinationOutcome, Thresholds,
};
use crate::store::{Pool, StoreError};

/// Largest batch written in one transaction. Measured under load (`bench
/// delivery` B): 200 → 500 rows a batch took throughput from ~20k to ~21k
/// deliveries/s, each outcome costing the database less in a bigger batch.
pub const MAX_BATCH: usize = 500;
/// A batch stops growing once its response bodies (up to 128 KiB each)
/// reach this many bytes, so one statement stays a few MiB at most.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// How long the recorder waits to fill a batch, while outcomes come in
/// faster than it writes them.
const GATHER: Duration = Duration::from_millis(5);
/// A batch this small says outcomes trickle in: the next one is written
/// as soon as it arrives (with whatever else is already waiting).
const TRICKLE: usize = 2;
/// Failures of one destination known closer together than this were in
/// flight together: they count as one toward its failure streak (see
/// [`streaks`]). A second covers a batch sent at once and refused or timed
/// out together; the sends of a destination that stays down are spaced
/// much further apart by its circuit breaker and retry schedule.
pub const FAILURE_SPACING: Duration = Duration::from_secs(1);

/// What a recorded batch changed, for alerts and tests.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recorded {
    pub accepted: usize,
    pub refused: usize,
    pub newly_disabled: Vec<DestinationId>,
    /// Destinations whose circuit this batch opened.
    pub circuits_opened: Vec<DestinationId>,
    /// Claimed deliveries not sent because their destination's circuit
    /// opened after the claim: they wait for its cool-down to end.
    pub postponed: usize,
}

impl Recorded {
    /// Adds what another batch recorded.
    pub fn add(&mut self, other: Recorded) {
        self.accepted += other.accepted;
        self.refused += other.refused;
        self.newly_disabled.extend(other.newly_disabled);
        self.circuits_opened.extend(other.circuits_opened);
        self.postponed += other.postponed;
    }
}

/// Writes one batch of outcomes. Outcomes from lost leases are refused,
/// not errors. `circuits` learns what the batch did to the circuits. With
/// `routed` (on Citus), the batch is one shard group's (see
/// [`ShardGroups::split`]) and every statement names its tenants.
pub async fn write(
    pool: &Pool,
    batch: &[Outcome],
    thresholds: Thresholds,
    circuits: &OpenCircuits,
    now: Option<DateTime<Utc>>,
    routed: bool,
) -> Result<Recorded, StoreError> {
    let at = now.unwrap_or_else(Utc::now);
    let group: Option<Vec<TenantId>> = routed.then(|| {
        let mut tenants: Vec<TenantId> = batch.iter().map(|o| o.tenant_id().clone()).collect();
        tenants.sort_unstable();
        tenants.dedup();
        tenants
    });
    let group = group.as_deref();
    let mut attempts = Vec::with_capacity(batch.len());
    let (mut holds, mut drops): (Vec<ClaimKey>, Vec<ClaimKey>) = (Vec::new(), Vec::new());
    let mut postponed: Vec<(ClaimKey, DateTime<Utc>)> = Vec::new();
    for outcome in batch {
        match outcome {
            Outcome::Attempted(a) => attempts.push(a),
            Outcome::Hold(k) => holds.push(k.clone()),
            Outcome::Drop(k) => drops.push(k.clone()),
            Outcome::Postpone(k, until) => postponed.push((k.clone(), *until)),
        }
    }
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Unsent deliveries are rare: no statement for them unless there are some.
    if !holds.is_empty() {
        deliveries::hold_claimed(&tx, &holds, group).await?;
    }
    if !drops.is_empty() {
        deliveries::drop_claimed(&tx, &drops, group).await?;
    }
    if attempts.is_empty() {
        if !postponed.is_empty() {
            deliveries::postpone(&tx, &postponed, group).await?;
        }
        tx.commit().await?;
        return Ok(Recorded {
            postponed: postponed.len(),
            ..Recorded::default()
        });
    }
    let accepted = deliveries::record(&tx, &attempts, group).await?;

    // What the batch says of each destination, in the order the outcomes
    // were known: a success ends a failure streak, any answer ends a run
    // of unanswered attempts.
    let accepted_keys: HashSet<(&TenantId, &EventId, &DestinationId)> =
        accepted.iter().map(|(t, e, d)| (t, e, d)).collect();
    let mut order: Vec<&AttemptRecord> = attempts
        .iter()
        .copied()
        .filter(|a| accepted_keys.contains(&(&a.tenant_id, &a.event_id, &a.destination_id)))
        .collect();
    order.sort_by_key(|a| a.known_at());
    let changes = streaks(&order, thresholds.failure_spacing_ms);
    // (The statement locks the rows in id order itself: no deadlock between
    // two workers' recorders, whatever order these come in.)
    let counts =
        deliveries::record_destination_outcomes(&tx, &changes, thresholds, now, group).await?;

    // A destination that answers again after an outage (its circuit was
    // open, a probe's answer closed it): what waits to be retried for it
    // goes now, not at retry times spread over the next minutes.
    let back: Vec<DestinationKey> = counts
        .iter()
        .filter(|c| c.circuit_closed)
        .map(DestinationCount::key)
        .collect();
    let back: Vec<&DestinationKey> = back.iter().collect();
    if !back.is_empty() {
        deliveries::circuit_closed(&tx, &back, now, group).await?;
    }
    if !postponed.is_empty() {
        deliveries::postpone(&tx, &postponed, group).await?;
    }
    let disabled: Vec<DestinationKey> = counts
        .iter()
        .filter(|c| c.disabled)
        .map(DestinationCount::key)
        .collect();
    let disabled: Vec<&DestinationKey> = disabled.iter().collect();
    if !disabled.is_empty() {
        deliveries::hold(&tx, &disabled, group).await?;
    }
    // In this transaction: an alert exists exactly when its change does.
    operator_events::emit_alerts(&tx, &order, &counts, thresholds.alerts, now, group).await?;
    // attempt.success / attempt.failed, after the destinations' updates so
    // that each carries its destination as this batch left it.
    operator_events::emit_attempts(&tx, &order, thresholds.alerts, now, group).await?;
    tx.commit().await?;
    circuits.update(&counts, at);

    for a in &order {
        if !a.success && a.next_attempt_at.is_none() {
            tracing::warn!(
                alert = "alert.attempt.exhausted_retries",
                tenant_id = %a.tenant_id,
                destination_id = %a.destination_id,
                event_id = %a.event_id,
                attempt_number = a.attempt_number,
                code = %a.code,
                "delivery failed for the last time"
            );
        }
    }
    let mut circuits_opened = Vec::new();
    for c in counts.iter().filter(|c| c.circuit_opened) {
        tracing::warn!(
            tenant_id = %c.tenant_id,
            destination_id = %c.id,
            unanswered = c.circuit_failures,
            open_until = ?c.circuit_open_until,
            "attempts get no answer: circuit opened, deliveries wait until it closes"
        );
        circuits_opened.push(c.id.clone());
    }
    let mut newly_disabled = Vec::new();
    for c in counts.iter().filter(|c| c.newly_disabled) {
        tracing::warn!(
            alert = "alert.destination.disabled",
            tenant_id = %c.tenant_id,
            destination_id = %c.id,
            consecutive_failures = c.consecutive_failures,
            "destination disabled after failing for too long; what matches it is held"
        );
        newly_disabled.push(c.id.clone());
    }
    let recorded = Recorded {
        accepted: accepted.len(),
        refused: attempts.len() - accepted.len(),
        newly_disabled,
        circuits_opened,
        postponed: postponed.len(),
    };
    crate::telemetry::recorded(
        recorded.refused,
        recorded.newly_disabled.len(),
        recorded.circuits_opened.len(),
    );
    Ok(recorded)
}

/// Per destination, what `order` (accepted attempts, by the time their
/// outcome was known) does to its failure streak and its circuit.
///
/// A failure counts toward the streak only when it was known at least
/// `spacing_ms` after the last one counted: attempts in flight together
/// (fifty messages refused at once when a broker stops, the sends that
/// time out together) are one failure, not fifty. A success ends the
/// streak; any answer, even an error status, ends a run of unanswered
/// attempts (what the circuit breaker counts).
pub fn streaks(order: &[&AttemptRecord], spacing_ms: i64) -> Vec<DestinationOutcome> {
    let spacing = chrono::Duration::milliseconds(spacing_ms);
    let mut changes: HashMap<(&TenantId, &DestinationId), DestinationOutcome> = HashMap::new();
    for a in order {
        let entry = changes
            .entry((&a.tenant_id, &a.destination_id))
            .or_insert_with(|| DestinationOutcome {
                tenant_id: a.tenant_id.clone(),
                id: a.destination_id.clone(),
                reset: false,
                failures: 0,
                first_failure_at: None,
                last_failure_at: None,
                answered: false,
                unanswered: 0,
            });
        if a.success {
            entry.reset = true;
            entry.failures = 0;
            entry.first_failure_at = None;
            entry.last_failure_at = None;
        } else {
            let known = a.known_at();
            if entry
                .last_failure_at
                .is_none_or(|last| known >= last + spacing)
            {
                entry.failures += 1;
                entry.first_failure_at.get_or_insert(known);
                entry.last_failure_at = Some(known);
            }
        }
        if a.code == AttemptCode::TransformFailed {
            // Nothing was sent: the destination's transformation failed.
            // That counts toward the streak (auto-disable pauses a
            // destination whose program fails every event, and holds its
            // events until it is fixed), but says nothing of whether the
            // endpoint answers.
        } else if a.success || !a.code.unanswered() {
            entry.answered = true;
            entry.unanswered = 0;
        } else {
            entry.unanswered += 1;
        }
    }
    changes.into_values().collect()
}

/// The recorder task: drains outcomes from the senders in batches. A write
/// that fails (database unreachable) is retried with the same batch until it
/// succeeds or `give_up` fires; outcomes never recorded are re-sent by
/// whoever claims the delivery after its lease expires.
pub async fn run(
    pool: Pool,
    mut rx: mpsc::Receiver<super::sending::Finished>,
    thresholds: Thresholds,
    circuits: std::sync::Arc<OpenCircuits>,
    groups: ShardGroups,
    give_up: tokio_util::sync::CancellationToken,
) {
    let mut batch: Vec<Outcome> = Vec::with_capacity(MAX_BATCH);
    // When each send of the batch ended, for the record stage's figures.
    let mut ended: Vec<std::time::Instant> = Vec::with_capacity(MAX_BATCH);
    let body_len = |o: &Outcome| match o {
        Outcome::Attempted(a) => a.response_body.as_ref().map_or(0, String::len),
        _ => 0,
    };
    // Outcomes trickling in are written at once: waiting would not grow
    // the batch, only land its write on the next delivery's way.
    let mut gather = Duration::ZERO;
    while let Some((first, end)) = rx.recv().await {
        let mut bytes = body_len(&first);
        batch.push(first);
        ended.extend(end);
        // Gather for a moment: recording is off the latency path (the
        // receiver already has the webhook), and bigger batches cost the
        // database far less per outcome.
        let window = tokio::time::sleep(gather);
        tokio::pin!(window);
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            let next = match rx.try_recv() {
                Ok(next) => Some(next),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) if gather.is_zero() => None,
                Err(mpsc::error::TryRecvError::Empty) => tokio::select! {
                    next = rx.recv() => next,
                    _ = &mut window => None,
                },
            };
            let Some((next, end)) = next else { break };
            bytes += body_len(&next);
            batch.push(next);
            ended.extend(end);
        }
        gather = if batch.len() <= TRICKLE {
            Duration::ZERO
        } else {
            GATHER
        };
        let routed = groups.routed();
        for part in groups.split(std::mem::take(&mut batch)) {
            if !write_retrying(&pool, &part, thresholds, &circuits, routed, &give_up).await {
                return;
            }
        }
        for end in ended.drain(..) {
            crate::telemetry::stage(crate::telemetry::Stage::Record, end.elapsed());
        }
    }
}

/// Writes one batch, retrying until it is written (true) or `give_up`
/// fires (false: the outcomes are lost and their deliveries re-sent).
async fn write_retrying(
    pool: &Pool,
    batch: &[Outcome],
    thresholds: Thresholds,
    circuits: &OpenCircuits,
    routed: bool,
    give_up: &tokio_util::sync::CancellationToken,
) -> bool {
    let mut backoff = Duration::from_millis(100);
    loop {
        match write(pool, batch, thresholds, circuits, None, routed).await {
            Ok(r) => {
                if r.refused > 0 {
                    tracing::info!(
                        refused = r.refused,
                        "outcomes of lost leases were not recorded"
                    );
                }
                return true;
            }
            Err(err) => {
                tracing::warn!(error = %err, pending = batch.len(), "recording outcomes failed; retrying");
                tokio::select! {
                    _ = give_up.cancelled() => {
                        tracing::warn!(lost = batch.len(), "shutting down with unrecorded outcomes; they will be re-sent");
                        return false;
                    }
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// On Citus, the shard group of every tenant the worker claims for (kept
/// by the claim loop, see `worker::shards`); empty on a single node. The
/// recorder writes one transaction per group, so that each of its
/// statements touches one group and Citus routes it to that group's node.
#[derive(Debug, Clone, Default)]
pub struct ShardGroups(std::sync::Arc<std::sync::RwLock<HashMap<TenantId, usize>>>);

impl ShardGroups {
    pub fn set(&self, groups: HashMap<TenantId, usize>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = groups;
    }

    /// Whether this is Citus (the claim loop has filled the map).
    pub fn routed(&self) -> bool {
        !self.0.read().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// `batch` split by shard group, in order; whole on a single node. A
    /// tenant in no known group (deleted meanwhile) is a part of its own.
    pub fn split(&self, batch: Vec<Outcome>) -> Vec<Vec<Outcome>> {
        let groups = self.0.read().unwrap_or_else(|p| p.into_inner());
        if groups.is_empty() {
            return vec![batch];
        }
        let mut parts: Vec<(Result<usize, TenantId>, Vec<Outcome>)> = Vec::new();
        for outcome in batch {
            let key = groups
                .get(outcome.tenant_id())
                .copied()
                .ok_or_else(|| outcome.tenant_id().clone());
            match parts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, part)) => part.push(outcome),
                None => parts.push((key, vec![outcome])),
            }
        }
        parts.into_iter().map(|(_, part)| part).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(n: i64, code: AttemptCode) -> AttemptRecord {
        let at = DateTime::UNIX_EPOCH + chrono::Duration::seconds(n * 10);
        AttemptRecord {
            event_id: EventId::parse(&format!("e{n}")).unwrap(),
            destination_id: DestinationId::parse("d").unwrap(),
            claims: 1,
            tenant_id: TenantId::parse("t").unwrap(),
            event_time: at,
            attempt_number: 1,
            manual: false,
            success: false,
            next_attempt_at: None,
            blocked: false,
            code,
            response_status: None,
            response_headers: None,
            response_body: None,
            duration_ms: 0,
            attempted_at: at,
        }
    }

    #[test]
    fn a_failed_transformation_is_a_failure_but_no_answer_nor_silence() {
        let order = [
            attempt(1, AttemptCode::Timeout),
            attempt(2, AttemptCode::TransformFailed),
            attempt(3, AttemptCode::Timeout),
        ];
        let order: Vec<&AttemptRecord> = order.iter().collect();
        let outcome = &streaks(&order, 1000)[0];
        assert_eq!(outcome.failures, 3, "each counts toward auto-disable");
        assert_eq!(
            outcome.unanswered, 2,
            "it neither breaks nor adds to a run of silence"
        );
        assert!(!outcome.answered);
    }
}
