//! Where the operator events go: the HTTP sink (a signed POST), or a queue
//! sink — SQS, Pub/Sub, RabbitMQ — delivered by the destination type's own
//! [`Sender`], so the queue sinks share the destinations' wire format,
//! connection handling and error codes instead of having clients of their
//! own. The message body is the envelope JSON on every sink, as Outpost
//! sends it; on RabbitMQ the routing key is the event's topic, as for a
//! destination.
//!
//! A sink is the operator's own setting, not a tenant's: it may be on a
//! private network (usually is), so its clients' SSRF policy allows every
//! address, while the tenants' destinations keep the guarded ones.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hyper::body::Bytes;

use crate::destinations::sender::{Message, Sender, SenderContext, Sent, Target};
use crate::destinations::QueueSink;
use crate::domain::ids::{DestinationId, EventId};
use crate::domain::metadata::MessageMetadata;
use crate::domain::operator_event as op;
use crate::domain::ssrf::NetworkPolicy;
use crate::net::http_client::{HttpClientConfig, HttpClientError, HttpSender};
use crate::store::operator_events::ClaimedOperatorEvent;

/// The destination id a queue sink's sender is given (senders name it in
/// nothing a receiver sees; it keys nothing either).
const SINK_ID: &str = "operator-events";

/// One sink, chosen at start-up from the settings.
pub enum Sink {
    Http {
        http: HttpSender,
        url: String,
        secret: Option<String>,
    },
    Queue {
        sender: Arc<dyn Sender>,
        /// What the sender is told it delivers to; `config` and
        /// `credentials` in the destination type's field names.
        id: DestinationId,
        config: serde_json::Value,
        credentials: serde_json::Value,
        /// For log lines; no credential in it.
        describe: String,
    },
}

/// The client for the operator's sinks: every address allowed.
fn unguarded(timeout: Duration) -> Result<(HttpSender, Arc<NetworkPolicy>), HttpClientError> {
    let everywhere = Arc::new(NetworkPolicy::parse("0.0.0.0/0,::/0").unwrap_or_default());
    let http = HttpSender::new(HttpClientConfig {
        timeout,
        connect_timeout: timeout,
        policy: everywhere.clone(),
        ..HttpClientConfig::default()
    })?;
    Ok((http, everywhere))
}

impl Sink {
    /// POST to `url`, signed with `secret` when there is one.
    pub fn http(
        url: String,
        secret: Option<String>,
        timeout: Duration,
    ) -> Result<Sink, HttpClientError> {
        let (http, _) = unguarded(timeout)?;
        Ok(Sink::Http { http, url, secret })
    }

    /// The queue sink `queue`, through the sender of its destination type.
    pub fn queue(queue: &QueueSink, timeout: Duration) -> Result<Sink, SinkError> {
        let (http, policy) = unguarded(timeout)?;
        let ctx = SenderContext {
            http,
            policy,
            timeout,
        };
        Ok(Sink::Queue {
            sender: (queue.sender)(&ctx),
            id: DestinationId::parse(SINK_ID).map_err(|_| SinkError::Id)?,
            config: queue.config.clone(),
            credentials: queue.credentials.clone(),
            describe: queue.describe.clone(),
        })
    }

    /// Where the events go, for the log; never a credential.
    pub fn describe(&self) -> String {
        match self {
            Sink::Http { url, .. } => format!("POST {url}"),
            Sink::Queue { describe, .. } => describe.clone(),
        }
    }

    /// Sends one envelope (`body`, its JSON text); Err says why the sink
    /// did not take it, in words fit for a log line.
    pub async fn send(&self, e: &ClaimedOperatorEvent, body: String) -> Result<(), String> {
        match self {
            Sink::Http { http, url, secret } => {
                let body = Bytes::from(body);
                let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
                if let Some(secret) = secret {
                    headers.push((
                        "x-outpost-signature".to_owned(),
                        op::signature(secret, &body),
                    ));
                }
                match http.post(url, &headers, body).await.result {
                    Ok(r) if r.is_success() => Ok(()),
                    Ok(r) => Err(format!("HTTP {}", r.status)),
                    Err(f) => Err(format!("{}: {}", f.code, f.detail)),
                }
            }
            Sink::Queue {
                sender,
                id,
                config,
                credentials,
                ..
            } => {
                let event_id = EventId::parse(&e.id)
                    .map_err(|err| format!("operator event id {:?}: {err}", e.id))?;
                let now = Utc::now();
                // The system keys a destination's message carries, for
                // consumers that route or deduplicate on them.
                let metadata =
                    MessageMetadata::new(&e.id, &e.topic, now, None, &serde_json::Value::Null);
                let target = Target {
                    id,
                    config,
                    credentials,
                };
                let message = Message {
                    event_id: &event_id,
                    topic: &e.topic,
                    time: e.time,
                    data: &body,
                    metadata: &metadata,
                    attempted_at: now,
                };
                match sender.send(target, message).await {
                    Sent::Delivered(_) => Ok(()),
                    Sent::Failed(f) => Err(format!("{}: {}", f.code, f.message)),
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Client(#[from] HttpClientError),
    #[error("this build has no sender for {0}")]
    NoSender(&'static str),
    #[error("{SINK_ID:?} is not a valid destination id")]
    Id,
}
