//! Delivery: workers that claim deliveries, send them, and record attempts.
//!
//! - [`worker`]: the claim → send → record loop, idle flag, shutdown.
//! - [`sending`]: send slots and the claimed deliveries waiting for one.
//! - [`fairness`]: how much of each destination a worker may take.
//! - [`attempt`]: one attempt of one delivery.
//! - [`outcome`]: what became of it, for the recorder and the counters.
//! - [`recorder`]: batched, lease-checked recording of outcomes.
//! - [`circuits`]: the open circuits this process knows of, so that what
//!   it already claimed is not sent into an outage.
//! - [`operator_events`]: the alerts a batch raises, and the sender that
//!   delivers the operator-event outbox to the operator's sink.
//! - [`operator_sinks`]: those sinks: HTTP, or a queue through the
//!   destination type's sender.
//! - [`replays`]: runs the steps of the replays in progress.

pub mod attempt;
pub mod circuits;
pub mod fairness;
pub mod operator_events;
pub mod operator_sinks;
pub mod outcome;
pub mod recorder;
pub mod replays;
pub mod sending;
pub mod worker;
