//! Azure Service Bus.

pub mod connection;
pub mod send;
