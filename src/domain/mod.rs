//! Pure types and rules that no destination type owns: ids, topics,
//! filters, the retry schedule, signatures, the attempt log's codes, which
//! network addresses destinations may reach (SSRF), JMESPath templates,
//! what a replay is and how far it got.
//! No database, no HTTP.

pub mod attempt_code;
pub mod catalog;
pub mod delivery_policy;
pub mod event_data;
pub mod filter;
pub mod ids;
pub mod jmespath_template;
pub mod metadata;
pub mod operator_event;
pub mod replay;
pub mod retry;
pub mod setting;
pub mod signature;
pub mod signature_template;
pub mod ssrf;
pub mod topic;
pub mod transform;
