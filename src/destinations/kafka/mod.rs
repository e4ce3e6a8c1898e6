//! Kafka.

pub mod brokers;
mod failure;
pub mod record;
pub mod send;
