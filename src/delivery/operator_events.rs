//! Operator events, both halves: which alerts a recorded batch raises
//! (inserted into the outbox in the recorder's transaction), and the
//! sender that delivers the outbox to the operator's sink
//! (`OPERATOR_EVENTS_HTTP_URL` or a queue, see `operator_sinks`).
//!
//! The outbox makes an operator event exactly as durable as the change
//! behind it: a destination disabled is an `alert.destination.disabled`
//! waiting to be sent, in one commit. The sender claims due rows with a
//! lease, so a process that dies mid-send leaves them due again for any
//! worker; it deletes a row once the sink answered 2xx and otherwise
//! retries with a growing delay. Delivery is therefore at least once, and
//! each envelope carries a stable `id` for the receiver to deduplicate.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::operator_sinks::Sink;
use crate::domain::ids::TenantId;
use crate::domain::operator_event::{self as op, crossed_level, Alerts};
use crate::net::http_client::HttpClientError;
use crate::store::deliveries::{AttemptRecord, DestinationCount};
use crate::store::operator_events::{self as outbox, ClaimedOperatorEvent, NewAlert};
use crate::store::{citus, GenericClient, Pool, StoreError};

/// Tries per operator event before it is dropped with an error log line.
/// With the delays below that rides out about a day of sink outage.
pub const MAX_ATTEMPTS: i32 = 20;
/// The first retry's delay; it doubles per try, up to `MAX_DELAY`.
const FIRST_DELAY: Duration = Duration::from_secs(5);
const MAX_DELAY: Duration = Duration::from_secs(2 * 3600);
/// Events claimed per round, sent `SENDS` at a time: the lease must
/// outlast `BATCH / SENDS` timeouts.
const BATCH: i64 = 100;
/// Sends in flight at once. Alerts are rare, but `attempt.success` and
/// `attempt.failed` come as fast as deliveries: one at a time, a sink a
/// couple of milliseconds away would cap them at a few hundred a second.
/// (The events of a round therefore arrive in no set order, as Outpost's
/// concurrent sends do.)
const SENDS: usize = 16;
/// Added to the batch's worst-case send time to make its lease.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// How often the sender looks for due events.
const POLL: Duration = Duration::from_secs(1);

/// Inserts the alerts a recorded batch raises, in its transaction.
/// `order` is the batch's accepted attempts, in the order they were known;
/// `counts` what the batch did to each destination's failure streak.
pub async fn emit_alerts(
    tx: &impl GenericClient,
    order: &[&AttemptRecord],
    counts: &[DestinationCount],
    alerts: Alerts,
    now: Option<DateTime<Utc>>,
    group: Option<&[TenantId]>,
) -> Result<(), StoreError> {
    let t = alerts.topics;
    if !(t.consecutive_failure || t.disabled || t.exhausted_retries) {
        return Ok(());
    }
    // The alert is about the destination's latest failed attempt.
    let mut last_failed: HashMap<(&str, &str), &AttemptRecord> = HashMap::new();
    for a in order.iter().filter(|a| !a.success) {
        last_failed.insert((a.tenant_id.as_str(), a.destination_id.as_str()), a);
    }
    let mut new = Vec::new();
    for c in counts {
        let Some(a) = last_failed.get(&(c.tenant_id.as_str(), c.id.as_str())) else {
            continue;
        };
        if t.consecutive_failure {
            let crossed = crossed_level(
                alerts.threshold,
                c.previous_failures,
                c.consecutive_failures,
            );
            if let Some(level) = crossed {
                new.push(alert(
                    op::CONSECUTIVE_FAILURE,
                    a,
                    json!({"consecutive_failures": {
                        "current": c.consecutive_failures,
                        "max": alerts.threshold,
                        "threshold": level,
                    }}),
                ));
            }
        }
        if t.disabled && c.newly_disabled {
            new.push(alert(op::DISABLED, a, json!({})));
        }
    }
    if !new.is_empty() {
        outbox::insert_alerts(tx, &new, now, group).await?;
    }
    if t.exhausted_retries {
        let exhausted: Vec<_> = order
            .iter()
            .filter(|a| !a.success && a.next_attempt_at.is_none())
            .map(|a| {
                (
                    &a.tenant_id,
                    &a.destination_id,
                    &a.event_id,
                    a.attempt_number,
                )
            })
            .collect();
        if !exhausted.is_empty() {
            outbox::insert_exhausted(tx, &exhausted, alerts.exhausted_window_ms, now, group)
                .await?;
        }
    }
    Ok(())
}

/// Inserts attempt.success / attempt.failed for the batch's accepted
/// attempts (`order`), in its transaction, when their topics are on. Off,
/// it costs the recorder nothing: no statement, not even a changed one.
pub async fn emit_attempts(
    tx: &impl GenericClient,
    order: &[&AttemptRecord],
    alerts: Alerts,
    now: Option<DateTime<Utc>>,
    group: Option<&[TenantId]>,
) -> Result<(), StoreError> {
    let t = alerts.topics;
    if !t.attempts() {
        return Ok(());
    }
    let wanted: Vec<&AttemptRecord> = order
        .iter()
        .copied()
        .filter(|a| t.attempt(a.success))
        .collect();
    if !wanted.is_empty() {
        outbox::insert_attempts(tx, &wanted, now, group).await?;
    }
    Ok(())
}

fn alert(topic: &'static str, a: &AttemptRecord, extra: serde_json::Value) -> NewAlert {
    NewAlert {
        topic,
        tenant_id: a.tenant_id.clone(),
        destination_id: a.destination_id.clone(),
        event_id: a.event_id.clone(),
        attempt_number: a.attempt_number,
        extra,
    }
}

/// The envelope every sink receives; `deployment_id` only when the
/// deployment has one (`DEPLOYMENT_ID`), as Outpost leaves it out.
pub fn envelope(e: &ClaimedOperatorEvent, deployment_id: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::Map::new();
    v.insert("id".into(), json!(e.id));
    v.insert("topic".into(), json!(e.topic));
    v.insert(
        "time".into(),
        json!(e.time.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    if let Some(id) = deployment_id {
        v.insert("deployment_id".into(), json!(id));
    }
    v.insert("tenant_id".into(), json!(e.tenant_id));
    v.insert("data".into(), e.data.clone());
    serde_json::Value::Object(v)
}

/// What one round of the sender did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendRound {
    pub delivered: usize,
    pub retrying: usize,
    pub abandoned: usize,
}

/// Delivers the outbox to the operator's sink.
#[derive(Clone)]
pub struct OperatorEventSender {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    sink: Sink,
    deployment_id: Option<String>,
    worker_id: String,
    /// How long a claimed batch is this sender's: every send in it timing
    /// out, and a margin, so no other worker claims an event still being
    /// sent.
    lease: Duration,
    /// Whether the outbox is distributed (Citus), found out at the first claim.
    citus: tokio::sync::OnceCell<bool>,
}

impl OperatorEventSender {
    /// A sender to the HTTP sink `url`, signed with `secret` when set.
    pub fn new(
        pool: Pool,
        url: String,
        secret: Option<String>,
        timeout: Duration,
        worker_id: String,
    ) -> Result<Self, HttpClientError> {
        let sink = Sink::http(url, secret, timeout)?;
        Ok(Self::with_sink(pool, sink, None, timeout, worker_id))
    }

    /// A sender to any sink; every envelope carries `deployment_id` when
    /// it is set. `timeout` bounds one send (the sink's client has it).
    pub fn with_sink(
        pool: Pool,
        sink: Sink,
        deployment_id: Option<String>,
        timeout: Duration,
        worker_id: String,
    ) -> Self {
        OperatorEventSender {
            inner: Arc::new(Inner {
                pool,
                sink,
                deployment_id,
                worker_id,
                lease: timeout * (BATCH as u32).div_ceil(SENDS as u32) + LEASE_MARGIN,
                citus: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// Claims the due operator events and sends them, `SENDS` at a time;
    /// those the sink took (and those given up on) are deleted together at
    /// the end of the round, the others rescheduled one by one.
    pub async fn run_once(&self, now: Option<DateTime<Utc>>) -> Result<SendRound, StoreError> {
        let inner = &self.inner;
        let lease_ms = i64::try_from(inner.lease.as_millis()).unwrap_or(i64::MAX);
        // The claim commits before anything is sent, and no connection is
        // held across a send: a slow sink never ties up the pool.
        let claimed = {
            let client = inner.pool.get().await?;
            let citus = *inner
                .citus
                .get_or_try_init(|| citus::is_distributed(&client))
                .await?;
            match citus {
                false => {
                    outbox::claim(&client, now, BATCH, &inner.worker_id, lease_ms, None).await?
                }
                // On Citus, one routed claim per shard group with events due.
                true => {
                    let mut claimed = Vec::new();
                    for tenants in citus::operator_event_groups(&client).await? {
                        let room = BATCH - claimed.len() as i64;
                        if room <= 0 {
                            break;
                        }
                        claimed.extend(
                            outbox::claim(
                                &client,
                                now,
                                room,
                                &inner.worker_id,
                                lease_ms,
                                Some(&tenants),
                            )
                            .await?,
                        );
                    }
                    claimed
                }
            }
        };
        let mut round = SendRound::default();
        let mut done: Vec<ClaimedOperatorEvent> = Vec::new();
        let mut waiting = claimed.into_iter();
        let mut sends = tokio::task::JoinSet::new();
        loop {
            while sends.len() < SENDS {
                let Some(e) = waiting.next() else { break };
                let inner = self.inner.clone();
                sends.spawn(async move {
                    let body = envelope(&e, inner.deployment_id.as_deref()).to_string();
                    let result = inner.sink.send(&e, body).await;
                    (e, result)
                });
            }
            // (A send that panicked is not known here: its lease expires
            // and it is due again.)
            let Some(finished) = sends.join_next().await else {
                break;
            };
            let Ok((e, result)) = finished else { continue };
            let Err(error) = result else {
                crate::telemetry::operator_event_sent();
                round.delivered += 1;
                done.push(e);
                continue;
            };
            crate::telemetry::operator_event_failed();
            if e.attempts >= MAX_ATTEMPTS {
                tracing::error!(
                    operator_event_id = %e.id,
                    topic = %e.topic,
                    attempts = e.attempts,
                    %error,
                    "operator event abandoned: the sink refused it too many times"
                );
                round.abandoned += 1;
                done.push(e);
                continue;
            }
            let next = now.unwrap_or_else(Utc::now) + retry_delay(e.attempts);
            tracing::warn!(
                operator_event_id = %e.id,
                topic = %e.topic,
                attempts = e.attempts,
                %error,
                "operator event not accepted by the sink; will retry"
            );
            let client = inner.pool.get().await?;
            outbox::reschedule(&client, &e, &inner.worker_id, next, &error).await?;
            round.retrying += 1;
        }
        if !done.is_empty() {
            let client = inner.pool.get().await?;
            outbox::delete(&client, &done, &inner.worker_id).await?;
        }
        Ok(round)
    }

    /// Sends until `cancel` fires. An event being sent at shutdown is
    /// finished or, if the process dies first, sent again after its lease.
    pub async fn run(self, cancel: CancellationToken) {
        tracing::info!(sink = %self.inner.sink.describe(), "operator events sender started");
        while !cancel.is_cancelled() {
            let busy = match self.run_once(None).await {
                Ok(r) => r.delivered + r.retrying + r.abandoned > 0,
                Err(err) => {
                    tracing::warn!(error = %err, "sending operator events failed; retrying");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        }
    }
}

/// The delay after the `attempts`-th failed try.
fn retry_delay(attempts: i32) -> chrono::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    let delay = FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
    chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_from_five_seconds_up_to_two_hours() {
        assert_eq!(retry_delay(1).num_seconds(), 5);
        assert_eq!(retry_delay(2).num_seconds(), 10);
        assert_eq!(retry_delay(5).num_seconds(), 80);
        assert_eq!(retry_delay(40).num_seconds(), 7200);
    }
}
