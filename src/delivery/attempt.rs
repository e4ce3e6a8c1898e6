//! One attempt of one claimed delivery: build the request, send it, and
//! turn what happened into an [`Outcome`] for the recorder.
//!
//! Nothing here touches the database: the claim brought everything needed
//! to send, and every outcome — an attempt made, or a delivery to hold or
//! drop unsent — goes to the recorder, which writes outcomes in batches.

use crate::domain::attempt_code::AttemptCode;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::Instrument;

use super::circuits::OpenCircuits;
pub use super::outcome::Outcome;
use crate::destinations::credentials::Cipher;
use crate::destinations::sender::{Failure, Message, Reply, Sent, Target};
use crate::destinations::Senders;
use crate::domain::metadata::MessageMetadata;
use crate::domain::retry::RetryPolicy;
use crate::store::deliveries::{AttemptRecord, Claimed, ClaimedDestination};
use crate::transform::{EventInput, Transformer};

/// Response bodies are stored up to this many bytes (the schema checks it).
const MAX_STORED_BODY: usize = 128 * 1024;

/// Makes attempts. Shared by every send task of a worker.
pub struct Attempter {
    pub senders: Senders,
    pub retry: RetryPolicy,
    /// Decrypts credentials stored encrypted (None: stored as plain text).
    pub cipher: Option<Arc<Cipher>>,
    /// The longest a send may take (`DELIVERY_TIMEOUT_SECONDS`). Senders
    /// bound their own network calls; this bounds the whole send, whatever
    /// the type, because the lease arithmetic depends on it.
    pub timeout: Duration,
    /// The longest a destination's own timeout may be (its delivery policy,
    /// up to DELIVERY_POLICY_MAX_TIMEOUT_SECONDS): a policy written by hand
    /// in SQL is held to it too, since the lease is sized by it.
    pub longest_timeout: Duration,
    /// The circuits this process knows to be open (written by its recorder).
    pub circuits: Arc<OpenCircuits>,
    /// Runs destinations' payload transformations (only for those that
    /// have one).
    pub transformer: Transformer,
}

/// Past the timeout, how long a sender has to give up by itself before the
/// attempt is cut short.
const TIMEOUT_MARGIN: Duration = Duration::from_millis(500);

/// What was observed of one send, as the attempt log stores it.
struct Observed {
    success: bool,
    /// No retry can help.
    permanent: bool,
    code: AttemptCode,
    status: Option<i32>,
    headers: Option<String>,
    /// The response body; without a response, the failure's message.
    body: Option<String>,
    retry_after: Option<Duration>,
    duration: Duration,
}

/// The attempt log's view of what a sender reported.
fn observe(sent: Sent, duration: Duration) -> Observed {
    let reply_fields = |reply: Option<Reply>| match reply {
        Some(r) => {
            let headers: serde_json::Map<String, serde_json::Value> = r
                .headers
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            (
                r.status.map(i32::from),
                Some(serde_json::Value::Object(headers).to_string()),
                Some(truncate(r.body, MAX_STORED_BODY)),
            )
        }
        None => (None, None, None),
    };
    match sent {
        Sent::Delivered(reply) => {
            let code = reply
                .as_ref()
                .and_then(|r| r.status)
                .map_or(AttemptCode::Delivered, AttemptCode::Http);
            let (status, headers, body) = reply_fields(reply);
            Observed {
                success: true,
                permanent: false,
                code,
                status,
                headers,
                body,
                retry_after: None,
                duration,
            }
        }
        Sent::Failed(f) => {
            let (status, headers, body) = reply_fields(f.reply);
            Observed {
                success: false,
                permanent: f.permanent,
                code: f.code,
                status,
                headers,
                body: body.or_else(|| Some(truncate(f.message, MAX_STORED_BODY))),
                retry_after: f.retry_after,
                duration,
            }
        }
    }
}

impl Attempter {
    /// Makes one attempt of `c` at `now`.
    ///
    /// The span around the whole attempt is debug-level: creating an
    /// info-level span per delivery cost ~5% of throughput. What is logged
    /// at info and above carries the delivery's ids through [`log_span`].
    pub async fn attempt(&self, c: Claimed, now: DateTime<Utc>) -> Outcome {
        let span = tracing::debug_span!(
            "attempt",
            tenant_id = %c.tenant_id,
            destination_id = %c.destination_id,
            event_id = %c.event_id,
            attempt = c.attempt_number()
        );
        let kind = c
            .destination
            .as_ref()
            .map_or("unknown", |d| d.kind.as_str());
        let outcome = self.attempt_in_span(c, now).instrument(span).await;
        crate::telemetry::attempted(kind, outcome.label(), outcome.send_seconds());
        outcome
    }

    async fn attempt_in_span(&self, c: Claimed, now: DateTime<Utc>) -> Outcome {
        let (event, destination) = match (&c.event, &c.destination) {
            (Some(e), Some(d)) => (e, d),
            _ => {
                log_span(&c).in_scope(|| {
                    tracing::info!("event expired or destination deleted; dropping the delivery")
                });
                return Outcome::Drop(c.key());
            }
        };
        if destination.disabled {
            return Outcome::Hold(c.key());
        }
        if let Some(until) = self.circuits.open_until(&c.destination_key(), now) {
            return Outcome::Postpone(c.key(), until);
        }
        let sender = self.senders.get(destination.kind);
        let mut metadata = MessageMetadata::new(
            c.event_id.as_str(),
            &event.topic,
            now,
            destination.delivery_metadata.as_ref(),
            &event.metadata,
        );
        let target = Target {
            id: &c.destination_id,
            config: &destination.config,
            credentials: &destination.credentials,
        };
        let started = Instant::now();
        let timeout = destination
            .policy
            .timeout(self.timeout)
            .min(self.longest_timeout);
        // Senders bound their own calls by the longest timeout; a shorter
        // one (a destination's own, or the deployment's below a raised
        // bound) is only this cut, so it gets no margin.
        let limit = if timeout < self.longest_timeout {
            timeout
        } else {
            timeout + TIMEOUT_MARGIN
        };
        // A transformation runs within the attempt's time, so the lease
        // arithmetic holds: what it takes, the send does not get.
        let deadline = tokio::time::Instant::now() + limit;
        let mut data = Cow::Borrowed(event.data.as_str());
        if let Some(t) = &destination.policy.transform {
            let input = EventInput {
                id: c.event_id.as_str(),
                topic: &event.topic,
                time: c.event_time,
                metadata: &event.metadata,
                data: &event.data,
            };
            match self.transformer.run(t, input, deadline).await {
                Ok(out) => {
                    out.merge_into(&mut metadata);
                    if let Some(body) = out.body {
                        data = Cow::Owned(body);
                    }
                }
                Err(f) => {
                    let failure = Failure {
                        permanent: f.permanent,
                        ..Failure::retryable(AttemptCode::TransformFailed, f.message)
                    };
                    log_span(&c).in_scope(
                        || tracing::info!(detail = %failure.message, "transformation failed"),
                    );
                    let result = observe(Sent::Failed(failure), started.elapsed());
                    return self.record(c, now, result);
                }
            }
        }
        let message = Message {
            event_id: &c.event_id,
            topic: &event.topic,
            time: c.event_time,
            data: &data,
            metadata: &metadata,
            attempted_at: now,
        };
        let sent = match tokio::time::timeout_at(deadline, sender.send(target, message)).await {
            Ok(sent) => sent,
            Err(_) => Sent::Failed(Failure::retryable(
                AttemptCode::Timeout,
                format!("no answer within {timeout:?}"),
            )),
        };
        if let Sent::Failed(f) = &sent {
            log_span(&c)
                .in_scope(|| tracing::info!(code = %f.code, detail = %f.message, "attempt failed"));
        }
        let result = observe(sent, started.elapsed());
        self.record(c, now, result)
    }

    /// The attempt's record: its result, and when to try again.
    fn record(&self, c: Claimed, now: DateTime<Utc>, result: Observed) -> Outcome {
        let attempt_number = c.attempt_number();
        // The delay runs from when the outcome was known, not from when the
        // attempt started: a send that timed out after 5 s with a 1 s retry
        // interval is retried 1 s after the timeout, and a Retry-After is
        // counted from the response that carried it.
        let known_at = now + chrono::Duration::from_std(result.duration).unwrap_or_default();
        let next_attempt_at = if result.success || result.permanent || !c.retry {
            None
        } else {
            // Counted from the replay that queued it again, if one did.
            let n = u32::try_from(c.retry_number()).unwrap_or(u32::MAX);
            // The destination's own policy, if it has one, over the deployment's.
            let retry = match &c.destination {
                Some(d) if !d.policy.is_empty() => Cow::Owned(d.policy.retry_policy(&self.retry)),
                _ => Cow::Borrowed(&self.retry),
            };
            retry
                .delay_after(n, result.retry_after, rand::random::<f64>())
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| known_at + d)
        };
        // A last failure in a lane of a destination that blocks keeps the
        // delivery, and its lane waits for a person.
        let blocked = !result.success
            && next_attempt_at.is_none()
            && c.ordered
            && c.destination
                .as_ref()
                .is_some_and(|d| d.policy.blocks_after_failure());
        Outcome::Attempted(AttemptRecord {
            event_id: c.event_id,
            destination_id: c.destination_id,
            claims: c.claims,
            tenant_id: c.tenant_id,
            event_time: c.event_time,
            attempt_number,
            manual: c.manual,
            success: result.success,
            next_attempt_at,
            blocked,
            code: result.code,
            response_status: result.status,
            response_headers: result.headers,
            response_body: result.body,
            duration_ms: i32::try_from(result.duration.as_millis()).unwrap_or(i32::MAX),
            attempted_at: now,
        })
    }

    /// Decrypts the sensitive credentials of each destination in a claimed
    /// batch, once per destination. One that cannot be decrypted is left as
    /// stored: the request builder then reports what is missing.
    pub fn decrypt_credentials(&self, claimed: &mut [Claimed]) {
        let Some(cipher) = &self.cipher else {
            return;
        };
        let mut done = HashMap::new();
        for c in claimed.iter_mut() {
            let Some(stored) = &c.destination else {
                continue;
            };
            let key = c.destination_key();
            if let Some(plain) = done.get(&key) {
                c.destination = Some(Arc::clone(plain));
                continue;
            }
            let kind = crate::destinations::declaration(stored.kind);
            match cipher.decrypt_sensitive(kind, &stored.credentials) {
                Ok(credentials) => {
                    let plain = Arc::new(ClaimedDestination {
                        credentials,
                        ..ClaimedDestination::clone(stored)
                    });
                    done.insert(key, plain.clone());
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
}

/// The context of a log line about one delivery attempt.
pub fn log_span(c: &Claimed) -> tracing::Span {
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
    use super::truncate;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo".into(), 2), "h");
        assert_eq!(truncate("héllo".into(), 3), "hé");
        assert_eq!(truncate("abc".into(), 10), "abc");
    }
}
