//! One attempt of one claimed delivery: build the request, send it, and
//! turn what happened into an [`Outcome`] for the recorder.
//!
//! Nothing here touches the database: the claim brought everything needed
//! to send, and every outcome — an attempt made, or a delivery to hold or
//! drop unsent — goes to the recorder, which writes outcomes in batches.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hyper::body::Bytes;
use tracing::Instrument;

use super::http_client::{HttpOutcome, HttpSender};
use super::webhook::{self, WebhookSettings};
use crate::domain::credentials::Cipher;
use crate::domain::destination_kind::DestinationKind;
use crate::domain::destination_type;
use crate::domain::retry::RetryPolicy;
use crate::store::deliveries::{AttemptRecord, ClaimKey, Claimed, ClaimedDestination};

/// Response bodies are stored up to this many bytes (the schema checks it).
const MAX_STORED_BODY: usize = 128 * 1024;

/// What became of one claimed delivery.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// An attempt was made (or could not be: a bad config is a failed
    /// attempt too); its record.
    Attempted(AttemptRecord),
    /// The destination is disabled: the delivery goes back to wait, unsent.
    Hold(ClaimKey),
    /// The event expired or the destination was deleted: nothing to send,
    /// ever.
    Drop(ClaimKey),
}

/// Makes attempts. Shared by every send task of a worker.
pub struct Attempter {
    pub http: HttpSender,
    pub webhook: WebhookSettings,
    pub retry: RetryPolicy,
    /// Decrypts credentials stored encrypted (None: stored as plain text).
    pub cipher: Option<Arc<Cipher>>,
}

/// What was observed of one send.
struct Observed {
    success: bool,
    code: String,
    status: Option<i32>,
    headers: Option<String>,
    body: Option<String>,
    retry_after: Option<Duration>,
    duration: Duration,
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
        self.attempt_in_span(c, now).instrument(span).await
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
        let started = Instant::now();
        let sent = match destination.kind {
            DestinationKind::Webhook => {
                match webhook::build(&self.webhook, c.event_id.as_str(), event, destination, now) {
                    Ok(req) => Some(
                        self.http
                            .post(&req.url, &req.headers, Bytes::from(req.body))
                            .await,
                    ),
                    Err(err) => {
                        log_span(&c).in_scope(
                            || tracing::warn!(error = %err, "cannot build the webhook request"),
                        );
                        None
                    }
                }
            }
            other => {
                log_span(&c).in_scope(|| {
                    tracing::warn!(
                        kind = %other,
                        "destination type not supported by this worker"
                    )
                });
                None
            }
        };
        let result = match sent {
            Some(out) => self.read(&c, out),
            None => Observed {
                success: false,
                code: match destination.kind {
                    DestinationKind::Webhook => "invalid_destination_config",
                    _ => "unsupported_destination_type",
                }
                .to_string(),
                status: None,
                headers: None,
                body: None,
                retry_after: None,
                duration: started.elapsed(),
            },
        };
        let attempt_number = c.attempt_number();
        // The delay runs from when the outcome was known, not from when the
        // attempt started: a send that timed out after 5 s with a 1 s retry
        // interval is retried 1 s after the timeout, and a Retry-After is
        // counted from the response that carried it.
        let known_at = now + chrono::Duration::from_std(result.duration).unwrap_or_default();
        let next_attempt_at = if result.success || !c.retry {
            None
        } else {
            let n = u32::try_from(attempt_number).unwrap_or(u32::MAX);
            self.retry
                .delay_after(n, result.retry_after, rand::random::<f64>())
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| known_at + d)
        };
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
            code: result.code,
            response_status: result.status,
            response_headers: result.headers,
            response_body: result.body,
            duration_ms: i32::try_from(result.duration.as_millis()).unwrap_or(i32::MAX),
            attempted_at: now,
        })
    }

    /// What an HTTP outcome means for the log and the retry schedule.
    fn read(&self, c: &Claimed, out: HttpOutcome) -> Observed {
        match out.result {
            Ok(resp) => {
                // Retry-After only means "come back later" on these.
                let retry_after = matches!(resp.status, 429 | 503)
                    .then_some(resp.retry_after)
                    .flatten();
                let headers: serde_json::Map<String, serde_json::Value> = resp
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                Observed {
                    success: resp.is_success(),
                    code: resp.status.to_string(),
                    status: Some(i32::from(resp.status)),
                    headers: Some(serde_json::Value::Object(headers).to_string()),
                    body: Some(truncate(resp.body, MAX_STORED_BODY)),
                    retry_after,
                    duration: out.duration,
                }
            }
            Err(failure) => {
                log_span(c).in_scope(|| {
                    tracing::info!(code = %failure.code, detail = %failure.detail, "attempt failed")
                });
                Observed {
                    success: false,
                    code: failure.code.as_str().to_string(),
                    status: None,
                    headers: None,
                    body: None,
                    retry_after: None,
                    duration: out.duration,
                }
            }
        }
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
            if let Some(plain) = done.get(&c.destination_id) {
                c.destination = Some(Arc::clone(plain));
                continue;
            }
            let kind = destination_type::get(stored.kind);
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
