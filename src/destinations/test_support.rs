//! What the destination types' tests share.

use serde_json::Value;

use super::check::CheckContext;
use super::kind::DestinationKind;
use crate::domain::ssrf::NetworkPolicy;

pub const RSA_KEY: &str = include_str!("../../tests/data/gcp-test-key.pem");
pub const EC_KEY: &str = include_str!("../../tests/data/ec-test-key.pem");

pub fn ctx(policy: &NetworkPolicy) -> CheckContext<'_> {
    CheckContext {
        network: policy,
        header_prefix: "x-outpost-",
    }
}

/// What saving a destination of `kind` with these settings would refuse,
/// as `field: message` lines.
pub fn refused(
    kind: DestinationKind,
    config: &Value,
    credentials: &Value,
    policy: &NetworkPolicy,
) -> Vec<String> {
    super::check_settings(kind, config, credentials, &ctx(policy))
        .into_iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect()
}
