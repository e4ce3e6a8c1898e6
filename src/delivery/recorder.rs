//! Recording outcomes: one transaction per batch writes the attempts, moves
//! the queue rows on, keeps the destinations' consecutive-failure counts and
//! circuit breakers, auto-disables, holds the deliveries of disabled
//! destinations, and holds or drops the claimed deliveries that were not
//! sent.
//!
//! These writes use `synchronous_commit = off` (set for the worker's
//! sessions by `store::connect_worker_pool`): if Postgres crashes before
//! the WAL is flushed, the last few outcomes are lost and those deliveries
//! are sent again when their lease expires — a duplicate, which
//! at-least-once delivery allows. Event inserts stay fully durable.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::attempt::{Outcome, CIRCUIT_OPEN};
use super::operator_events;
use crate::domain::ids::{DestinationId, EventId};
use crate::store::deliveries::{self, AttemptRecord, ClaimKey, DestinationOutcome, Thresholds};
use crate::store::{Pool, StoreError};

/// Largest batch written in one transaction. Measured under load (`bench
/// delivery` B): 200 → 500 rows a batch took throughput from ~20k to ~21k
/// deliveries/s, each outcome costing the database less in a bigger batch.
pub const MAX_BATCH: usize = 500;
/// A batch stops growing once its response bodies (up to 128 KiB each)
/// reach this many bytes, so one statement stays a few MiB at most.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// How long the recorder waits to fill a batch.
const GATHER: Duration = Duration::from_millis(5);

/// Failure codes of attempts that got no answer at all: what the circuit
/// breaker counts. An HTTP error status is an answer (the endpoint is up
/// and quick to say no), and so is anything a sender reports after
/// talking to the service.
pub fn unanswered(code: &str) -> bool {
    matches!(
        code,
        "timeout"
            | "connection_refused"
            | "connection_reset"
            | "dns_error"
            | "tls_error"
            | "network_error"
    )
}

/// What a recorded batch changed, for alerts and tests.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recorded {
    pub accepted: usize,
    pub refused: usize,
    pub newly_disabled: Vec<DestinationId>,
    /// Destinations whose circuit this batch opened.
    pub circuits_opened: Vec<DestinationId>,
}

/// Writes one batch of outcomes. Outcomes from lost leases are refused,
/// not errors.
pub async fn write(
    pool: &Pool,
    batch: &[Outcome],
    thresholds: Thresholds,
    now: Option<DateTime<Utc>>,
) -> Result<Recorded, StoreError> {
    let mut attempts = Vec::with_capacity(batch.len());
    let (mut holds, mut drops): (Vec<ClaimKey>, Vec<ClaimKey>) = (Vec::new(), Vec::new());
    for outcome in batch {
        match outcome {
            Outcome::Attempted(a) => attempts.push(a),
            Outcome::Hold(k) => holds.push(k.clone()),
            Outcome::Drop(k) => drops.push(k.clone()),
        }
    }
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Unsent deliveries are rare: no statement for them unless there are some.
    if !holds.is_empty() {
        deliveries::hold_claimed(&tx, &holds).await?;
    }
    if !drops.is_empty() {
        deliveries::drop_claimed(&tx, &drops).await?;
    }
    if attempts.is_empty() {
        tx.commit().await?;
        return Ok(Recorded::default());
    }
    let accepted = deliveries::record(&tx, &attempts).await?;

    // Consecutive failures and unanswered attempts per destination, in
    // attempt order: a success resets the first, any answer the second.
    // Attempts not made because the circuit was open count for neither.
    let accepted_keys: std::collections::HashSet<(&EventId, &DestinationId)> =
        accepted.iter().map(|(e, d)| (e, d)).collect();
    let mut order: Vec<&AttemptRecord> = attempts
        .iter()
        .copied()
        .filter(|a| accepted_keys.contains(&(&a.event_id, &a.destination_id)))
        .collect();
    order.sort_by_key(|a| a.attempted_at);
    let mut changes: HashMap<&DestinationId, DestinationOutcome> = HashMap::new();
    for a in order.iter().filter(|a| a.code != CIRCUIT_OPEN) {
        let entry = changes
            .entry(&a.destination_id)
            .or_insert_with(|| DestinationOutcome {
                id: a.destination_id.clone(),
                reset: false,
                failures: 0,
                answered: false,
                unanswered: 0,
            });
        if a.success {
            entry.reset = true;
            entry.failures = 0;
        } else {
            entry.failures += 1;
        }
        if a.success || !unanswered(&a.code) {
            entry.answered = true;
            entry.unanswered = 0;
        } else {
            entry.unanswered += 1;
        }
    }
    // (The statement locks the rows in id order itself: no deadlock between
    // two workers' recorders, whatever order these come in.)
    let changes: Vec<DestinationOutcome> = changes.into_values().collect();
    let counts = deliveries::record_destination_outcomes(&tx, &changes, thresholds, now).await?;
    let disabled: Vec<&DestinationId> = counts
        .iter()
        .filter(|c| c.disabled)
        .map(|c| &c.id)
        .collect();
    if !disabled.is_empty() {
        deliveries::hold(&tx, &disabled).await?;
    }
    // In this transaction: an alert exists exactly when its change does.
    operator_events::emit_alerts(&tx, &order, &changes, &counts, thresholds.alerts, now).await?;
    tx.commit().await?;

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
            "destination disabled after consecutive failures"
        );
        newly_disabled.push(c.id.clone());
    }
    let recorded = Recorded {
        accepted: accepted.len(),
        refused: attempts.len() - accepted.len(),
        newly_disabled,
        circuits_opened,
    };
    crate::telemetry::recorded(&recorded);
    Ok(recorded)
}

/// The recorder task: drains outcomes from the senders in batches. A write
/// that fails (database unreachable) is retried with the same batch until it
/// succeeds or `give_up` fires; outcomes never recorded are re-sent by
/// whoever claims the delivery after its lease expires.
pub async fn run(
    pool: Pool,
    mut rx: mpsc::Receiver<Outcome>,
    thresholds: Thresholds,
    give_up: tokio_util::sync::CancellationToken,
) {
    let mut batch: Vec<Outcome> = Vec::with_capacity(MAX_BATCH);
    let body_len = |o: &Outcome| match o {
        Outcome::Attempted(a) => a.response_body.as_ref().map_or(0, String::len),
        _ => 0,
    };
    while let Some(first) = rx.recv().await {
        let mut bytes = body_len(&first);
        batch.push(first);
        // Gather for a moment: recording is off the latency path (the
        // receiver already has the webhook), and bigger batches cost the
        // database far less per outcome.
        let window = tokio::time::sleep(GATHER);
        tokio::pin!(window);
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            tokio::select! {
                next = rx.recv() => match next {
                    Some(next) => {
                        bytes += body_len(&next);
                        batch.push(next);
                    }
                    None => break,
                },
                _ = &mut window => break,
            }
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            match write(&pool, &batch, thresholds, None).await {
                Ok(r) => {
                    if r.refused > 0 {
                        tracing::info!(
                            refused = r.refused,
                            "outcomes of lost leases were not recorded"
                        );
                    }
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, pending = batch.len(), "recording outcomes failed; retrying");
                    tokio::select! {
                        _ = give_up.cancelled() => {
                            tracing::warn!(lost = batch.len(), "shutting down with unrecorded outcomes; they will be re-sent");
                            return;
                        }
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        batch.clear();
    }
}
