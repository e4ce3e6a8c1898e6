//! Pure types and rules: ids, destination kinds and their schemas, topics,
//! filters, retry schedule, signatures, webhook secrets, and which network
//! addresses destinations may reach (SSRF).
//! No database, no HTTP.

pub mod catalog;
pub mod credentials;
pub mod destination_checks;
pub mod destination_kind;
pub mod destination_type;
pub mod event_data;
pub mod filter;
pub mod ids;
pub mod kafka;
pub mod metadata;
pub mod partition_key;
pub mod retry;
pub mod signature;
pub mod ssrf;
pub mod topic;
pub mod webhook_secret;
