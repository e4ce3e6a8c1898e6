//! Pure types and rules: ids, topics, filters, retry schedule, signatures,
//! and which network addresses webhooks may reach (SSRF).
//! No database, no HTTP.

pub mod catalog;
pub mod credentials;
pub mod destination_type;
pub mod filter;
pub mod ids;
pub mod retry;
pub mod signature;
pub mod ssrf;
pub mod topic;
