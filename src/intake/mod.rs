//! The publish queue (Outpost's `PUBLISH_*` settings): events to publish
//! taken from a broker — RabbitMQ, SQS, GCP Pub/Sub or Azure Service Bus —
//! instead of `POST /publish`.
//!
//! Each message's body is a publish request, the JSON that `POST /publish`
//! takes, and it is published by the same function
//! ([`api::publish::publish_request`]): the same checks, the same duplicate
//! refusal, the same fan-out. Then the message is settled with the broker.
//!
//! - this file: the loop every source shares, and what a message becomes;
//! - [`settings`]: the variables, and the one source they choose;
//! - [`rabbitmq`], [`sqs`], [`gcp_pubsub`], [`azure_servicebus`]: one
//!   [`Source`] each: take messages, settle them.
//!
//! **Nothing lost, nothing twice.** A message is acknowledged only after
//! its event has committed, so a crash (or a lost connection) between the
//! two leaves the message with the broker, which delivers it again. The
//! second publish is then refused as a duplicate by the database (event ids
//! are unique) and the message acknowledged without a second event. For
//! that the event needs the same id both times: a message whose request
//! names no `id` gets one derived from the broker's identity of the
//! message ([`derived_id`]), where `POST /publish` would generate a new
//! one.
//!
//! **What a message becomes** ([`Verdict`]): published, or a duplicate
//! (acknowledged either way); refused — it can never be published as it is
//! (not JSON, a missing tenant, a topic not in `TOPICS`…): logged at WARN
//! with the reason, counted, and taken off the queue (RabbitMQ rejects it
//! without requeueing, so a dead-letter exchange on the queue receives it);
//! or retried — the database could not take it now: left to the broker,
//! which delivers it again, while the loop backs off. Outpost instead
//! nacks a bad message, which redelivers it until the broker's own
//! dead-letter policy (if any) takes it.

pub mod azure_servicebus;
pub mod gcp_pubsub;
pub mod rabbitmq;
pub mod settings;
pub mod sqs;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::api::publish::publish_request;
use crate::api::AppState;
use crate::destinations::sender::{BoxFuture, Failure};
use crate::domain::ids::EventId;
use crate::domain::ssrf::NetworkPolicy;
use crate::net::http_client::{HttpClientConfig, HttpSender};
pub use settings::{Broker, PublishSettings};

/// The first pause after a failed receive or a retried message; it doubles
/// up to [`MAX_BACKOFF`] while failures go on.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A broker connection failed or refused a call; the loop logs it, backs
/// off and tries again (a source reconnects on its next call).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

impl From<Failure> for SourceError {
    fn from(f: Failure) -> Self {
        SourceError(f.message)
    }
}

/// One message taken from the queue, not yet settled.
#[derive(Debug)]
pub struct Taken<R> {
    /// The publish request's JSON text.
    pub body: Vec<u8>,
    /// The broker's id of the message, the same on every redelivery (SQS
    /// `MessageId`, Pub/Sub `messageId`, Service Bus `MessageId`, the AMQP
    /// `message-id` property), where there is one.
    pub message_id: Option<String>,
    /// What settles it.
    pub receipt: R,
}

/// How a message is settled with the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Its event committed (or was a duplicate): remove it.
    Done,
    /// It can never be published: remove it, through the broker's
    /// dead-letter route where it has one for a refusal.
    Refused,
    /// Not published now: make it available again.
    Again,
}

/// A broker the publish queue reads: it takes messages and settles them.
/// Both may fail (the connection is lost); the source then reconnects on
/// the next call.
pub trait Source: Send + Sync + 'static {
    /// For logs and metrics: `rabbitmq`, `aws_sqs`, `gcp_pubsub`,
    /// `azure_servicebus`. Also the derived ids' prefix.
    const LABEL: &'static str;
    type Receipt: Send + Sync + 'static;

    /// Where it reads, for the start-up log; never a credential.
    fn describe(&self) -> String;

    /// Up to `max` messages; waits a while (a long poll) for the first,
    /// and answers none if none came.
    fn receive(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Taken<Self::Receipt>>, SourceError>> + Send;

    /// Settles messages taken by [`Source::receive`].
    fn settle(
        &mut self,
        settled: Vec<(Self::Receipt, Settle)>,
    ) -> impl Future<Output = Result<(), SourceError>> + Send;
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Published(EventId),
    /// The id was published before (a redelivery, or a resend).
    Duplicate(EventId),
    /// Never publishable as it is; why.
    Refused(String),
    /// Not now (the database); why.
    Retry(String),
}

impl Verdict {
    fn settle(&self) -> Settle {
        match self {
            Verdict::Published(_) | Verdict::Duplicate(_) => Settle::Done,
            Verdict::Refused(_) => Settle::Refused,
            Verdict::Retry(_) => Settle::Again,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Verdict::Published(_) => "published",
            Verdict::Duplicate(_) => "duplicate",
            Verdict::Refused(_) => "refused",
            Verdict::Retry(_) => "retried",
        }
    }
}

/// The event id of a message whose request names none:
/// `<source>:<broker's message id>`, or `<source>:sha256:<hex of the body>`
/// for a message without one (a RabbitMQ message published without the
/// `message-id` property; identical such bodies are then one event). An id
/// too long for an event id (255) is hashed too.
pub fn derived_id(source: &str, message_id: Option<&str>, body: &[u8]) -> Option<EventId> {
    let hashed = |bytes: &[u8]| format!("{source}:sha256:{}", hex::encode(Sha256::digest(bytes)));
    let text = match message_id.filter(|m| !m.is_empty()) {
        Some(m) if source.len() + 1 + m.len() <= 255 => format!("{source}:{m}"),
        Some(m) => hashed(m.as_bytes()),
        None => hashed(body),
    };
    // Both forms are 1 to 255 characters, all an event id needs; were one
    // not, the database would generate the id, as for `POST /publish`.
    EventId::parse(&text).ok()
}

/// Publishes messages from one [`Source`], `max` at a time.
pub struct Intake<S> {
    source: S,
    state: AppState,
    max: usize,
}

impl<S: Source> Intake<S> {
    pub fn new(source: S, state: AppState, max_concurrency: usize) -> Intake<S> {
        Intake {
            source,
            state,
            max: max_concurrency.max(1),
        }
    }

    /// Takes, publishes and settles messages until `cancel` fires. A batch
    /// being published when it fires is finished and settled first, so
    /// shutdown leaves no committed event unacknowledged (and a message not
    /// yet taken stays with the broker).
    pub async fn run(mut self, cancel: CancellationToken) {
        tracing::info!(source = S::LABEL, "publish queue: consuming");
        let mut backoff = MIN_BACKOFF;
        loop {
            let taken = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                taken = self.source.receive(self.max) => taken,
            };
            let calm = match taken {
                Ok(taken) => match self.finish(taken).await {
                    Ok(v) => !v.iter().any(|v| matches!(v, Verdict::Retry(_))),
                    Err(e) => {
                        tracing::warn!(source = S::LABEL, error = %e, "publish queue: settling failed; the broker will deliver again");
                        false
                    }
                },
                Err(e) => {
                    tracing::warn!(source = S::LABEL, error = %e, "publish queue: receiving failed");
                    false
                }
            };
            if calm {
                backoff = MIN_BACKOFF;
                continue;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        tracing::info!(source = S::LABEL, "publish queue: stopped");
    }

    /// One round: take, publish, settle. What became of each message.
    pub async fn run_once(&mut self) -> Result<Vec<Verdict>, SourceError> {
        let taken = self.receive().await?;
        self.finish(taken).await
    }

    /// Takes up to `max` messages (none after the source's long poll).
    pub async fn receive(&mut self) -> Result<Vec<Taken<S::Receipt>>, SourceError> {
        self.source.receive(self.max).await
    }

    /// Publishes `taken` (their events commit) without settling them: what
    /// a crash after the commit leaves behind.
    pub async fn publish(&self, taken: &[Taken<S::Receipt>]) -> Vec<Verdict> {
        let mut set = tokio::task::JoinSet::new();
        for (i, t) in taken.iter().enumerate() {
            let state = self.state.clone();
            let body = t.body.clone();
            let id = derived_id(S::LABEL, t.message_id.as_deref(), &t.body);
            set.spawn(async move { (i, verdict(&state, &body, id).await) });
        }
        let mut verdicts = vec![Verdict::Retry("the publish did not finish".into()); taken.len()];
        while let Some(done) = set.join_next().await {
            if let Ok((i, v)) = done {
                verdicts[i] = v;
            }
        }
        verdicts
    }

    async fn finish(&mut self, taken: Vec<Taken<S::Receipt>>) -> Result<Vec<Verdict>, SourceError> {
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        let verdicts = self.publish(&taken).await;
        for (t, v) in taken.iter().zip(&verdicts) {
            crate::telemetry::publish_queue_message(S::LABEL, v.label());
            let message_id = t.message_id.as_deref().unwrap_or("");
            match v {
                Verdict::Published(id) => {
                    tracing::debug!(source = S::LABEL, message_id, event_id = %id.as_str(), "publish queue: published");
                }
                Verdict::Duplicate(id) => {
                    tracing::info!(source = S::LABEL, message_id, event_id = %id.as_str(), "publish queue: duplicate, acknowledged");
                }
                Verdict::Refused(why) => {
                    tracing::warn!(source = S::LABEL, message_id, reason = %why, "publish queue: message refused and removed");
                }
                Verdict::Retry(why) => {
                    tracing::warn!(source = S::LABEL, message_id, reason = %why, "publish queue: not published now; the broker will deliver it again");
                }
            }
        }
        let settled = taken
            .into_iter()
            .zip(&verdicts)
            .map(|(t, v)| (t.receipt, v.settle()))
            .collect();
        self.source.settle(settled).await?;
        Ok(verdicts)
    }
}

/// Publishes one request, as `POST /publish` would.
async fn verdict(state: &AppState, body: &[u8], fallback_id: Option<EventId>) -> Verdict {
    match publish_request(state, body, fallback_id).await {
        Ok(p) if p.duplicate => Verdict::Duplicate(p.id),
        Ok(p) => Verdict::Published(p.id),
        // A conflict is a concurrent publish of the same id: next time it
        // is a duplicate.
        Err(e) if e.status.is_server_error() || e.status == StatusCode::CONFLICT => {
            Verdict::Retry(e.message)
        }
        Err(e) => Verdict::Refused(match e.data {
            Some(data) => format!("{}: {data}", e.message),
            None => e.message,
        }),
    }
}

/// The HTTP client of a REST source: any address (the operator names the
/// broker, so the SSRF guard has nothing to guard), calls bounded by
/// `timeout` (longer than the source's long poll), answers kept up to
/// `max_response_bytes` (a batch of messages).
fn http_client(
    service: &str,
    timeout: Duration,
    max_response_bytes: usize,
) -> Result<HttpSender, String> {
    HttpSender::new(HttpClientConfig {
        timeout,
        connect_timeout: Duration::from_secs(10),
        max_response_bytes,
        policy: anywhere(),
        ..HttpClientConfig::default()
    })
    .map_err(|e| format!("the HTTP client for {service}: {e}"))
}

/// Every address.
fn anywhere() -> Arc<NetworkPolicy> {
    Arc::new(NetworkPolicy::parse("0.0.0.0/0,::/0").unwrap_or_default())
}

/// The configured source's loop, ready to run.
pub struct Consumer {
    /// Where it reads, for the start-up log; never a credential.
    pub describe: String,
    run: Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>,
}

impl Consumer {
    fn new<S: Source>(source: S, state: &AppState, max_concurrency: usize) -> Consumer {
        let describe = source.describe();
        let intake = Intake::new(source, state.clone(), max_concurrency);
        Consumer {
            describe,
            run: Box::new(move |cancel| Box::pin(intake.run(cancel))),
        }
    }

    /// Runs until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        (self.run)(cancel).await
    }
}

/// The publish queue the settings name, ready to run (None: none is
/// set). Nothing connects yet: a broker that cannot be reached is retried
/// by the loop, as Outpost redials; settings that can never work are the
/// error, naming the variable.
pub fn consumer(settings: &PublishSettings, state: &AppState) -> Result<Option<Consumer>, String> {
    let max = settings.max_concurrency;
    let consumer = match settings.broker()? {
        None => return Ok(None),
        Some(Broker::Rabbitmq) => Consumer::new(settings.rabbitmq.source()?, state, max),
        Some(Broker::AwsSqs) => Consumer::new(settings.aws_sqs.source()?, state, max),
        Some(Broker::GcpPubsub) => Consumer::new(settings.gcp_pubsub.source()?, state, max),
        Some(Broker::AzureServicebus) => {
            Consumer::new(settings.azure_servicebus.source()?, state, max)
        }
    };
    Ok(Some(consumer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn derived_ids_are_the_brokers_message_id_or_a_hash() {
        let id = |m: Option<&str>, body: &[u8]| {
            derived_id("aws_sqs", m, body)
                .map(|i| i.as_str().to_string())
                .unwrap_or_default()
        };
        assert_eq!(id(Some("5fea7756-0ea4"), b"{}"), "aws_sqs:5fea7756-0ea4");
        // The same message, delivered again: the same id.
        assert_eq!(id(None, b"{\"a\":1}"), id(None, b"{\"a\":1}"));
        assert_ne!(id(None, b"{\"a\":1}"), id(None, b"{\"a\":2}"));
        assert!(id(Some(""), b"x").starts_with("aws_sqs:sha256:"));
        let long = "m".repeat(300);
        let hashed = id(Some(&long), b"x");
        assert!(
            hashed.starts_with("aws_sqs:sha256:") && hashed.len() < 100,
            "{hashed}"
        );
        assert_ne!(hashed, id(None, b"x"));
    }

    fn settings(args: &[&str]) -> Result<Settings, String> {
        let mut all = vec!["--api-key", "k", "--aes-encryption-secret", "s"];
        all.extend_from_slice(args);
        Settings::from_args(all).map_err(|e| e.to_string())
    }

    #[test]
    fn the_variables_choose_one_broker_as_outpost_does() {
        let none = settings(&[]).unwrap();
        assert_eq!(none.publish.broker(), Ok(None));
        assert_eq!(none.publish.max_concurrency, 1);
        let s = settings(&[
            "--publish-rabbitmq-server-url",
            "amqp://u:p@rabbit:5672/",
            "--publish-rabbitmq-queue",
            "publish",
            "--publish-max-concurrency",
            "8",
        ])
        .unwrap();
        assert_eq!(s.publish.broker(), Ok(Some(Broker::Rabbitmq)));
        assert_eq!(s.publish.max_concurrency, 8);
        assert!(!format!("{s:?}").contains("u:p@"), "no password in Debug");
        let source = s.publish.rabbitmq.source().unwrap();
        assert_eq!(
            source.describe(),
            "RabbitMQ queue \"publish\" on rabbit:5672/"
        );

        let sqs = settings(&["--publish-aws-sqs-region", "eu-west-1"]).unwrap();
        assert_eq!(sqs.publish.broker(), Ok(Some(Broker::AwsSqs)));
        let err = sqs.publish.aws_sqs.source().err().unwrap();
        assert!(err.contains("PUBLISH_AWS_SQS_QUEUE"), "{err}");
        let half = settings(&[
            "--publish-aws-sqs-region",
            "eu-west-1",
            "--publish-aws-sqs-queue",
            "q",
            "--publish-aws-sqs-access-key-id",
            "AKIA",
        ])
        .unwrap();
        let err = half.publish.aws_sqs.source().err().unwrap();
        assert!(err.contains("go together"), "{err}");

        // Service Bus is chosen by all three; two alone are an error.
        let partial = settings(&[
            "--publish-azure-servicebus-topic",
            "t",
            "--publish-azure-servicebus-subscription",
            "s",
        ])
        .unwrap();
        let err = partial.publish.broker().unwrap_err();
        assert!(
            err.contains("PUBLISH_AZURE_SERVICEBUS_CONNECTION_STRING"),
            "{err}"
        );

        let err = settings(&["--publish-max-concurrency", "0"]).unwrap_err();
        assert!(err.contains("PUBLISH_MAX_CONCURRENCY"), "{err}");
        let err = settings(&[
            "--publish-rabbitmq-server-url",
            "http://rabbit",
            "--publish-rabbitmq-queue",
            "q",
        ])
        .unwrap()
        .publish
        .rabbitmq
        .source()
        .err()
        .unwrap();
        assert!(err.contains("PUBLISH_RABBITMQ_SERVER_URL"), "{err}");
    }
}
