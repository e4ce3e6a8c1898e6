//! RabbitMQ.

mod classify;
mod link;
pub mod send;
pub mod server;
