//! Connections to destinations, under the SSRF policy
//! ([`crate::domain::ssrf`]): every host is resolved once, every address
//! the policy refuses is dropped, and connections go to the vetted
//! addresses, never to a name a second lookup could answer differently.
//!
//! - [`resolve`]: the one vetted lookup, used by everything below.
//! - [`tcp`]: a vetted TCP connection, for the senders that speak their
//!   own protocol (AMQP).
//! - [`socks`]: a loopback SOCKS5 relay over [`tcp`], for client crates
//!   that dial their own connections (Kafka).
//! - [`http_client`]: the pooled HTTP client with timeouts, body caps and
//!   the vetted lookup as its resolver, directly or through an HTTP proxy's
//!   CONNECT tunnel to the vetted address.
//!
//! Failures are [`ConnectError`]s: a code of the attempt log and what went
//! wrong. This layer knows the domain's rules and nothing above them.

mod error;
pub mod http_client;
pub mod resolve;
pub mod socks;
pub mod tcp;

pub use error::ConnectError;
