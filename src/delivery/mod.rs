//! Delivery: workers that claim deliveries, send them, and record attempts.
//!
//! - [`worker`]: the claim → send → record loop, idle flag, shutdown.
//! - [`sending`]: send slots and the claimed deliveries waiting for one.
//! - [`attempt`]: one attempt of one delivery, and its outcome.
//! - [`recorder`]: batched, lease-checked recording of outcomes.
//! - [`webhook`]: builds the signed webhook request for a delivery.
//! - [`http_client`]: the pooled HTTP client with timeouts, body caps and
//!   the SSRF guard (whose rules live in [`crate::domain::ssrf`]).

pub mod attempt;
pub mod http_client;
pub mod recorder;
pub mod sending;
pub mod webhook;
pub mod worker;
