//! Everything about a destination type, one folder per type, and the
//! registry that lists them.
//!
//! - [`registry`]: one row per type (declaration, check, target, sender);
//!   the only place that picks something by a destination's kind.
//! - one folder per type: [`webhook`], [`aws`] (SQS, S3, Kinesis),
//!   [`rabbitmq`], [`gcp_pubsub`], [`azure_servicebus`], [`kafka`],
//!   [`hookdeck`]. Each holds the type's declaration (fields, icon, link),
//!   the rules its settings must meet, what it delivers to, its sender and
//!   its deployment settings; no field name is spelled outside it.
//! - what the types share: [`kind`] (the enum), [`fields`] (the field
//!   model), [`schema`] (the JSON Schema generated from a declaration),
//!   [`check`] (the rules every type shares), [`credentials`] (encrypting
//!   and masking the declared secrets), [`sender`] (the trait a sender
//!   implements, and what it sends), [`rest`] (a cloud REST API's refusal as
//!   a failure).
//!
//! Adding a type: a folder here, a row in the registry, the variant in
//! [`kind`], a migration line, a docs page and a test file.

pub mod check;
pub mod credentials;
pub mod fields;
pub mod kind;
pub mod registry;
pub mod rest;
pub mod schema;
pub mod sender;
pub mod settings;
pub mod sink;
pub mod target;
#[cfg(test)]
mod test_support;

pub mod aws;
pub mod azure_servicebus;
pub mod gcp_pubsub;
pub mod hookdeck;
pub mod kafka;
pub mod rabbitmq;
pub mod webhook;

pub use registry::{
    check_settings, declaration, declarations, find, served_declaration, target, Senders,
};
pub use settings::{OperatorSinkArgs, Settings};
pub use sink::QueueSink;
