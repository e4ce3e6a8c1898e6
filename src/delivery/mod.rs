//! Delivery: workers that claim deliveries, send them, and record attempts.
//!
//! - [`worker`]: the claim → send → record loop, LISTEN wake-ups, shutdown.
//! - [`recorder`]: batched, lease-checked recording of outcomes.
//! - [`webhook`]: builds the signed webhook request for a delivery.
//! - [`http_client`]: the pooled HTTP client with timeouts, body caps and
//!   the SSRF guard (whose rules live in [`crate::domain::ssrf`]).

pub mod http_client;
pub mod recorder;
pub mod webhook;
pub mod worker;
