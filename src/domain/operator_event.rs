//! Operator events: the topics, which of them are emitted
//! (`OPERATOR_EVENTS_TOPICS`), the alert rules (when a consecutive-failure
//! count crosses a level) and the sink's signature. Names and shapes are
//! Outpost's, so an operator moving from Outpost keeps their receiver.

use hmac::{Hmac, Mac};

pub const CONSECUTIVE_FAILURE: &str = "alert.destination.consecutive_failure";
pub const DISABLED: &str = "alert.destination.disabled";
pub const EXHAUSTED_RETRIES: &str = "alert.attempt.exhausted_retries";
pub const SUBSCRIPTION_UPDATED: &str = "tenant.subscription.updated";
/// One per attempt (Outpost v1.1): the audit stream, keyed by outcome.
pub const ATTEMPT_SUCCESS: &str = "attempt.success";
pub const ATTEMPT_FAILED: &str = "attempt.failed";

/// Every topic this build emits.
pub const TOPICS: &[&str] = &[
    CONSECUTIVE_FAILURE,
    DISABLED,
    EXHAUSTED_RETRIES,
    SUBSCRIPTION_UPDATED,
    ATTEMPT_SUCCESS,
    ATTEMPT_FAILED,
];

/// The percentages of `ALERT_CONSECUTIVE_FAILURE_COUNT` at which
/// `alert.destination.consecutive_failure` is emitted.
pub const LEVELS: [i32; 4] = [50, 70, 90, 100];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown operator event topic {0:?} (known: {known})", known = TOPICS.join(", "))]
pub struct UnknownTopic(pub String);

/// Which operator events are emitted. Copy, so it travels with the
/// recorder's thresholds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperatorTopics {
    pub consecutive_failure: bool,
    pub disabled: bool,
    pub exhausted_retries: bool,
    pub subscription_updated: bool,
    /// `attempt.success` / `attempt.failed`: one operator event per
    /// attempt, so as many as deliveries. `*` includes them, as in Outpost.
    pub attempt_success: bool,
    pub attempt_failed: bool,
}

impl OperatorTopics {
    /// Parses `OPERATOR_EVENTS_TOPICS`: topic names, `*` for all (the
    /// per-attempt topics too, as Outpost's `*`); none = off.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<OperatorTopics, UnknownTopic> {
        let mut t = OperatorTopics::default();
        for name in list.iter().map(|s| s.as_ref().trim()) {
            match name {
                "" => {}
                "*" => {
                    t = OperatorTopics {
                        consecutive_failure: true,
                        disabled: true,
                        exhausted_retries: true,
                        subscription_updated: true,
                        attempt_success: true,
                        attempt_failed: true,
                    }
                }
                CONSECUTIVE_FAILURE => t.consecutive_failure = true,
                DISABLED => t.disabled = true,
                EXHAUSTED_RETRIES => t.exhausted_retries = true,
                SUBSCRIPTION_UPDATED => t.subscription_updated = true,
                ATTEMPT_SUCCESS => t.attempt_success = true,
                ATTEMPT_FAILED => t.attempt_failed = true,
                other => return Err(UnknownTopic(other.to_owned())),
            }
        }
        Ok(t)
    }

    pub fn any(&self) -> bool {
        self.consecutive_failure
            || self.disabled
            || self.exhausted_retries
            || self.subscription_updated
            || self.attempts()
    }

    /// The topics on, by name (what `parse` reads back).
    pub fn names(&self) -> Vec<&'static str> {
        let on = [
            self.consecutive_failure,
            self.disabled,
            self.exhausted_retries,
            self.subscription_updated,
            self.attempt_success,
            self.attempt_failed,
        ];
        TOPICS
            .iter()
            .zip(on)
            .filter_map(|(name, on)| on.then_some(*name))
            .collect()
    }

    /// Whether either per-attempt topic is on: the recorder then writes an
    /// operator event with each attempt.
    pub fn attempts(&self) -> bool {
        self.attempt_success || self.attempt_failed
    }

    /// Whether an attempt with this outcome gets an operator event.
    pub fn attempt(&self, success: bool) -> bool {
        match success {
            true => self.attempt_success,
            false => self.attempt_failed,
        }
    }
}

/// What the recorder emits, and when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Alerts {
    pub topics: OperatorTopics,
    /// `ALERT_CONSECUTIVE_FAILURE_COUNT`: the count the levels are
    /// percentages of (0 = no consecutive-failure alerts).
    pub threshold: i32,
    /// `ALERT_EXHAUSTED_RETRIES_WINDOW_SECONDS`, in ms.
    pub exhausted_window_ms: i64,
}

/// The highest level (percentage) that a consecutive-failure count crossed
/// going from `before` to `after`, if any. A level is reached at the first
/// whole count at or above its share of the threshold, so with a threshold
/// of 10 the alerts come at 5, 7, 9 and 10 failures; with a small threshold
/// two levels may share a count and the higher one is reported.
pub fn crossed_level(threshold: i32, before: i32, after: i32) -> Option<i32> {
    if threshold <= 0 || after <= before {
        return None;
    }
    LEVELS.iter().rev().copied().find(|&pct| {
        let at = level_count(threshold, pct);
        before < at && at <= after
    })
}

/// The count at which `pct` % of `threshold` is reached (at least 1).
fn level_count(threshold: i32, pct: i32) -> i32 {
    let t = i64::from(threshold) * i64::from(pct);
    i32::try_from((t + 99) / 100).unwrap_or(i32::MAX).max(1)
}

/// The `X-Outpost-Signature` value for a body: `v0=<hex HMAC-SHA256>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length: new_from_slice cannot fail here.
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_a_threshold_of_ten_are_five_seven_nine_ten() {
        let hits: Vec<(i32, i32)> = (1..=12)
            .filter_map(|n| crossed_level(10, n - 1, n).map(|l| (n, l)))
            .collect();
        assert_eq!(hits, vec![(5, 50), (7, 70), (9, 90), (10, 100)]);
    }

    #[test]
    fn a_jump_reports_the_highest_level_crossed_once() {
        assert_eq!(crossed_level(10, 0, 8), Some(70));
        assert_eq!(crossed_level(10, 8, 20), Some(100));
        assert_eq!(crossed_level(10, 10, 20), None);
        assert_eq!(crossed_level(0, 0, 5), None);
    }

    #[test]
    fn topics_parse_star_names_and_refuse_unknown_ones() {
        assert!(!OperatorTopics::parse::<&str>(&[]).unwrap().any());
        let all = OperatorTopics::parse(&["*"]).unwrap();
        assert!(all.disabled && all.subscription_updated);
        assert!(
            all.attempt_success && all.attempt_failed,
            "* is Outpost's: all"
        );
        let one = OperatorTopics::parse(&["alert.destination.disabled"]).unwrap();
        assert!(one.disabled && !one.exhausted_retries && !one.attempts());
        assert_eq!(OperatorTopics::parse(&all.names()).unwrap(), all);
        let failed = OperatorTopics::parse(&["attempt.failed"]).unwrap();
        assert_eq!(failed.names(), ["attempt.failed"]);
        assert!(failed.any() && failed.attempt(false) && !failed.attempt(true));
        assert!(OperatorTopics::parse(&["alert.nope"]).is_err());
    }

    #[test]
    fn the_signature_is_hex_hmac_sha256_with_v0() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog")
        assert_eq!(
            signature("key", b"The quick brown fox jumps over the lazy dog"),
            "v0=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}
