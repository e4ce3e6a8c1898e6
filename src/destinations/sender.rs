//! Senders: one per destination type, behind one small trait.
//!
//! A [`Sender`] delivers one message to one destination and says what
//! happened ([`Sent`]): delivered, or failed with a code, a readable
//! message, and whether trying again can help. It keeps whatever is worth
//! keeping between deliveries (a keep-alive connection, an AMQP channel, a
//! cached OAuth token) and rebuilds it after a failure.
//!
//! [`Senders`] is the registry: the one list of the types this build can
//! deliver. The worker looks a destination's sender up there; the API reads
//! the same list to refuse a type that could never be delivered and to list
//! the deliverable types. Adding a type is its module and one line in
//! [`Senders::new`].
//!
//! Nothing a sender reports — codes, messages, logs — may contain a
//! credential: messages name the service and what it said, never a key,
//! password, token or a URL carrying one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::attempt_code::AttemptCode;
use crate::domain::ids::{DestinationId, EventId};
use crate::domain::metadata::MessageMetadata;
use crate::domain::ssrf::NetworkPolicy;
use crate::net::http_client::HttpSender;
use crate::net::ConnectError;

/// A boxed future, as a `dyn Sender` returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One event, as every type sends it (`reference/outpost/WIRE.md`).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub event_id: &'a EventId,
    pub topic: &'a str,
    /// When the event happened (its `time`).
    pub time: DateTime<Utc>,
    /// The event's data, byte for byte as published: the message body.
    pub data: &'a str,
    /// System keys < delivery_metadata < event metadata.
    pub metadata: &'a MessageMetadata,
    /// When this attempt is made.
    pub attempted_at: DateTime<Utc>,
}

/// The destination a message goes to, its credentials decrypted.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub id: &'a DestinationId,
    pub config: &'a Value,
    pub credentials: &'a Value,
}

/// What a receiver answered, when there is an answer worth keeping (the
/// HTTP-based types).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    /// Capped at the attempt log's limit by the caller.
    pub body: String,
}

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The code the attempt log stores.
    pub code: AttemptCode,
    /// What went wrong, for people: the service's own error text where it
    /// gave one. Never a credential.
    pub message: String,
    pub reply: Option<Reply>,
    /// The receiver asked to come back no sooner than this.
    pub retry_after: Option<Duration>,
    /// Retrying the same message cannot help (the destination's settings
    /// are unusable); the delivery ends after this attempt.
    pub permanent: bool,
}

impl Failure {
    /// A failure worth retrying, with no reply.
    pub fn retryable(code: AttemptCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            reply: None,
            retry_after: None,
            permanent: false,
        }
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(code: AttemptCode, message: impl Into<String>) -> Failure {
        Failure {
            permanent: true,
            ..Failure::retryable(code, message)
        }
    }
}

impl From<ConnectError> for Failure {
    /// A connection that could not be made is worth retrying: DNS, routes
    /// and brokers come back.
    fn from(e: ConnectError) -> Failure {
        Failure::retryable(e.code, e.message)
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Delivered(Option<Reply>),
    Failed(Failure),
}

/// Delivers messages to destinations of one type.
pub trait Sender: Send + Sync {
    fn send<'a>(&'a self, target: Target<'a>, message: Message<'a>) -> BoxFuture<'a, Sent>;
}

/// What every sender shares: the guarded HTTP client (every HTTP-based
/// type goes through its SSRF guard, timeouts and body cap), the network
/// policy for the types that open their own connections, and the
/// per-attempt timeout. A type's own settings come with it (the registry
/// hands each type its group).
#[derive(Clone)]
pub struct SenderContext {
    pub http: HttpSender,
    pub policy: Arc<NetworkPolicy>,
    /// The per-attempt timeout (`DELIVERY_TIMEOUT_SECONDS`).
    pub timeout: Duration,
}
