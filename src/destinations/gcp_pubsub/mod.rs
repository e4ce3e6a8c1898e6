//! GCP Pub/Sub.

pub mod key;
pub mod send;
pub mod target;
