//! The retry schedule: when a failed attempt is tried again, if at all.
//!
//! Outpost's policy: retry n (1-based) waits `interval × 2^(n−1)`, at most
//! `max_retries` retries; an explicit schedule (`RETRY_SCHEDULE=5,60,600`)
//! replaces both, one delay per retry. A jitter of up to ±10% spreads
//! retries of a burst of failures so they do not return as a burst. A
//! receiver's `Retry-After` (on 429/503) is a floor — "not before" — capped
//! so a hostile or broken receiver cannot park a delivery forever.

use std::time::Duration;

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq)]
pub enum RetryPolicy {
    Exponential {
        interval: Duration,
        max_retries: u32,
    },
    Schedule(Vec<Duration>),
}

impl RetryPolicy {
    /// How many retries follow the first attempt.
    pub fn max_retries(&self) -> u32 {
        match self {
            RetryPolicy::Exponential { max_retries, .. } => *max_retries,
            RetryPolicy::Schedule(s) => u32::try_from(s.len()).unwrap_or(u32::MAX),
        }
    }

    /// The delay before the next attempt after attempt number `attempt`
    /// (1-based) failed, or None when retries are exhausted. `jitter` is a
    /// number in [0, 1) from the caller (tests pass 0.5 for "no jitter").
    pub fn delay_after(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let retry = attempt.max(1);
        if retry > self.max_retries() {
            return None;
        }
        let base = match self {
            RetryPolicy::Exponential { interval, .. } => {
                let factor = 2u32.saturating_pow(retry - 1);
                interval.saturating_mul(factor)
            }
            RetryPolicy::Schedule(s) => s[(retry - 1) as usize],
        };
        // jitter 0..1 maps to a factor 0.9..1.1
        let factor = 0.9 + 0.2 * jitter.clamp(0.0, 1.0);
        let jittered = base.mul_f64(factor);
        Some(match retry_after {
            Some(floor) => jittered.max(floor.min(MAX_RETRY_AFTER)),
            None => jittered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_JITTER: f64 = 0.5;

    #[test]
    fn exponential_doubles_from_the_interval() {
        let p = RetryPolicy::Exponential {
            interval: Duration::from_secs(30),
            max_retries: 10,
        };
        let secs: Vec<u64> = (1..=10)
            .map(|n| p.delay_after(n, None, NO_JITTER).unwrap().as_secs())
            .collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 15360]);
        assert_eq!(p.delay_after(11, None, NO_JITTER), None);
    }

    #[test]
    fn an_explicit_schedule_replaces_both() {
        let p = RetryPolicy::Schedule(vec![Duration::from_secs(5), Duration::from_secs(60)]);
        assert_eq!(p.max_retries(), 2);
        assert_eq!(
            p.delay_after(1, None, NO_JITTER),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            p.delay_after(2, None, NO_JITTER),
            Some(Duration::from_secs(60))
        );
        assert_eq!(p.delay_after(3, None, NO_JITTER), None);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let p = RetryPolicy::Schedule(vec![Duration::from_secs(100)]);
        assert_eq!(p.delay_after(1, None, 0.0), Some(Duration::from_secs(90)));
        assert_eq!(p.delay_after(1, None, 1.0), Some(Duration::from_secs(110)));
    }

    #[test]
    fn retry_after_is_a_capped_floor() {
        let p = RetryPolicy::Schedule(vec![Duration::from_secs(5)]);
        let d = |ra| {
            p.delay_after(1, Some(Duration::from_secs(ra)), NO_JITTER)
                .unwrap()
                .as_secs()
        };
        assert_eq!(d(1), 5, "shorter than the schedule: the schedule wins");
        assert_eq!(d(120), 120);
        assert_eq!(d(86_400), 3600, "capped");
    }

    #[test]
    fn zero_retries_means_one_attempt() {
        let p = RetryPolicy::Exponential {
            interval: Duration::from_secs(1),
            max_retries: 0,
        };
        assert_eq!(p.delay_after(1, None, NO_JITTER), None);
    }
}
