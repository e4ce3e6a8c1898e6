//! Pure types and rules: ids, destination kinds and their schemas, topics,
//! filters, retry schedule, signatures, webhook secrets, and which network
//! addresses destinations may reach (SSRF), the AWS types' rules and their
//! JMESPath templates.
//! No database, no HTTP.

pub mod amqp_server;
pub mod attempt_code;
pub mod aws;
pub mod azure_connection;
pub mod catalog;
pub mod credentials;
pub mod destination_checks;
pub mod destination_kind;
pub mod destination_type;
pub mod event_data;
pub mod filter;
pub mod gcp_key;
pub mod hookdeck_token;
pub mod ids;
pub mod jmespath_template;
pub mod kafka;
pub mod metadata;
pub mod operator_event;
pub mod pubsub_target;
pub mod retry;
pub mod signature;
pub mod ssrf;
pub mod topic;
pub mod webhook_secret;
