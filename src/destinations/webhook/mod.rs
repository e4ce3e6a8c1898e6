//! Webhooks: HTTP POST, signed.

pub mod secret;
pub mod send;
