//! Everything about a destination type, one folder per type, and the
//! registry that lists them.

pub mod check;
pub mod credentials;
pub mod declarations;
pub mod fields;
pub mod kind;
pub mod rest;
pub mod schema;
pub mod sender;

pub mod aws;
pub mod azure_servicebus;
pub mod gcp_pubsub;
pub mod hookdeck;
pub mod kafka;
pub mod rabbitmq;
pub mod webhook;
