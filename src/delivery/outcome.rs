//! What became of one claimed delivery, as the recorder writes it and the
//! counters count it.

use chrono::{DateTime, Utc};

use crate::domain::ids::TenantId;
use crate::store::deliveries::{AttemptRecord, ClaimKey};

/// What became of one claimed delivery.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// An attempt was made (or could not be: a bad config is a failed
    /// attempt too); its record.
    Attempted(AttemptRecord),
    /// The destination is disabled: the delivery goes back to wait, unsent.
    Hold(ClaimKey),
    /// The event expired or the destination was deleted: nothing to send,
    /// ever.
    Drop(ClaimKey),
    /// The destination's circuit opened after the claim: the delivery
    /// waits, unsent and without using up an attempt, until then.
    Postpone(ClaimKey, DateTime<Utc>),
}

impl Outcome {
    /// The tenant of the delivery.
    pub fn tenant_id(&self) -> &TenantId {
        match self {
            Outcome::Attempted(a) => &a.tenant_id,
            Outcome::Hold(k) | Outcome::Drop(k) | Outcome::Postpone(k, _) => &k.tenant_id,
        }
    }

    /// The `outcome` label of `outbound_deliveries_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Attempted(a) if a.success => "success",
            Outcome::Attempted(a) if a.next_attempt_at.is_some() => "retry",
            Outcome::Attempted(_) => "failed",
            Outcome::Hold(_) => "held",
            Outcome::Drop(_) => "dropped",
            Outcome::Postpone(..) => "circuit_open",
        }
    }

    /// How long the send took, when one was made.
    pub fn send_seconds(&self) -> Option<f64> {
        match self {
            Outcome::Attempted(a) => Some(f64::from(a.duration_ms.max(0)) / 1000.0),
            _ => None,
        }
    }
}
