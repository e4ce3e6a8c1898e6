//! What the destination types' tests share.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::check::CheckContext;
use super::fields::{Contract, Field};
use super::kind::DestinationKind;
use super::sender::Message;
use crate::domain::ids::EventId;
use crate::domain::metadata::MessageMetadata;
use crate::domain::ssrf::NetworkPolicy;

pub const RSA_KEY: &str = include_str!("../../tests/data/gcp-test-key.pem");
pub const EC_KEY: &str = include_str!("../../tests/data/ec-test-key.pem");

pub fn ctx(policy: &NetworkPolicy) -> CheckContext<'_> {
    CheckContext {
        network: policy,
        header_prefix: "x-outpost-",
    }
}

/// What saving a destination of `kind` with these settings would refuse,
/// as `field: message` lines.
pub fn refused(
    kind: DestinationKind,
    config: &Value,
    credentials: &Value,
    policy: &NetworkPolicy,
) -> Vec<String> {
    super::check_settings(kind, config, credentials, &ctx(policy))
        .into_iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect()
}

/// An event as the senders' tests send it: `evt_1`, happened and attempted
/// at 2026-11-29T12:00:00Z (set `time` for another event time), with the
/// metadata a test gives.
pub struct Sample {
    pub id: EventId,
    pub topic: &'static str,
    pub time: DateTime<Utc>,
    pub attempted_at: DateTime<Utc>,
    pub metadata: MessageMetadata,
}

impl Sample {
    pub fn new(
        topic: &'static str,
        delivery_metadata: Option<Value>,
        event_metadata: Value,
    ) -> Sample {
        let at: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().expect("a time");
        Sample {
            id: EventId::parse("evt_1").expect("an id"),
            topic,
            time: at,
            attempted_at: at,
            metadata: MessageMetadata::new(
                "evt_1",
                topic,
                at,
                delivery_metadata.as_ref(),
                &event_metadata,
            ),
        }
    }

    /// The message with `data` as its body.
    pub fn message<'a>(&'a self, data: &'a str) -> Message<'a> {
        Message {
            event_id: &self.id,
            topic: self.topic,
            time: self.time,
            data,
            metadata: &self.metadata,
            attempted_at: self.attempted_at,
        }
    }
}

/// The contract of each field (see [`Field::contract`]), for the tests
/// that pin a type's fields.
pub fn contracts(fields: &[Field]) -> Vec<Contract> {
    fields.iter().map(Field::contract).collect()
}
