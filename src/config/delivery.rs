//! How deliveries are made: retries, timeouts, concurrency, fairness, the
//! circuit breaker and auto-disable, and which networks destinations may
//! reach.

use std::time::Duration;

use crate::domain::delivery_policy::PolicyBounds;
use crate::domain::setting::{list, seconds, seconds_list, text, whole};

#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
pub struct DeliverySettings {
    /// Base of the exponential retry backoff, in seconds
    #[arg(env = "RETRY_INTERVAL_SECONDS", default_value = "30", value_parser = seconds(1, 86_400))]
    pub retry_interval: Duration,
    /// Retries after the first attempt
    #[arg(env = "MAX_RETRY_LIMIT", default_value = "10", value_parser = whole(0, 100u32))]
    pub max_retry_limit: u32,
    /// Explicit retry delays in whole seconds, comma separated (e.g.
    /// 5,60,600); replaces the two settings above
    #[arg(env = "RETRY_SCHEDULE", value_parser = seconds_list)]
    pub retry_schedule: Option<::std::vec::Vec<Duration>>,
    /// Per-attempt timeout, in seconds
    #[arg(env = "DELIVERY_TIMEOUT_SECONDS", default_value = "5", value_parser = seconds(1, 300))]
    pub timeout: Duration,
    /// The most retries one destination's delivery policy may ask for
    #[arg(env = "DELIVERY_POLICY_MAX_RETRIES", default_value = "20", value_parser = whole(0, 100u32))]
    pub policy_max_retries: u32,
    /// The longest delay before one retry (or retry interval) a destination
    /// may ask for, in seconds
    #[arg(
        env = "DELIVERY_POLICY_MAX_RETRY_DELAY_SECONDS",
        default_value = "86400"
    )]
    #[arg(value_parser = seconds(1, 7 * 86_400))]
    pub policy_max_retry_delay: Duration,
    /// The longest per-attempt timeout a destination may ask for, in
    /// seconds; default DELIVERY_TIMEOUT_SECONDS (destinations may only
    /// shorten it). The default lease grows with it.
    #[arg(env = "DELIVERY_POLICY_MAX_TIMEOUT_SECONDS", value_parser = seconds(1, 300))]
    pub policy_max_timeout_setting: Option<Duration>,
    /// Consecutive failures that disable a destination (failures in flight
    /// together count once); 0 = never
    #[arg(env = "ALERT_CONSECUTIVE_FAILURE_COUNT", default_value = "20")]
    #[arg(value_parser = whole(0, 1_000_000u32))]
    pub disable_after_failures: u32,
    /// The least time, in seconds, a destination must have been failing
    /// (no success since) before its failures disable it
    #[arg(env = "ALERT_AUTO_DISABLE_MIN_FAILING_SECONDS", default_value = "600")]
    #[arg(value_parser = seconds(0, 30 * 86_400))]
    pub disable_min_failing: Duration,
    /// CIDRs exempt from the SSRF guard, comma separated
    #[arg(env = "DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", default_value = "", value_parser = list)]
    pub allowed_networks: ::std::vec::Vec<String>,
    /// In-flight sends per process (default 64)
    #[arg(env = "DELIVERY_CONCURRENCY", value_parser = whole(1, 10_000usize))]
    pub concurrency_setting: Option<usize>,
    /// Outpost's name for DELIVERY_CONCURRENCY; DELIVERY_CONCURRENCY wins
    #[arg(env = "DELIVERY_MAX_CONCURRENCY", value_parser = whole(1, 10_000usize))]
    pub max_concurrency_alias: Option<usize>,
    /// The concurrency in use ([`Self::finish`]).
    #[arg(skip)]
    pub concurrency: usize,
    /// User-Agent of webhook and other HTTP deliveries; unset: outbound/<version>
    #[arg(env = "HTTP_USER_AGENT", value_parser = text)]
    pub user_agent: Option<String>,
    /// Most deliveries one process holds (waiting or in flight) for one
    /// slow (or not yet measured) destination
    #[arg(env = "DELIVERY_DESTINATION_CONCURRENCY", default_value = "16")]
    #[arg(value_parser = whole(1, 10_000usize))]
    pub destination_concurrency: usize,
    /// Attempts in a row without an answer (timeouts, refused connections)
    /// that open a destination's circuit; 0 = no circuit breaker
    #[arg(env = "DELIVERY_CIRCUIT_BREAKER_FAILURES", default_value = "5")]
    #[arg(value_parser = whole(0, 1_000_000u32))]
    pub circuit_breaker_failures: u32,
    /// How long an opened circuit first stays open, in seconds (doubles
    /// with each reopening, up to 8×)
    #[arg(env = "DELIVERY_CIRCUIT_BREAKER_COOLDOWN_SECONDS", default_value = "1")]
    #[arg(value_parser = seconds(1, 86_400))]
    pub circuit_breaker_cooldown: Duration,
    /// Async runtime threads of `outbound worker` (more processes scale out too)
    #[arg(env = "WORKER_THREADS", default_value = "1", value_parser = whole(1, 1024usize))]
    pub worker_threads: usize,
    /// How long a claimed delivery is exclusive to its worker, in seconds;
    /// longer than the timeout. Default max(30, 3 × DELIVERY_TIMEOUT_SECONDS)
    #[arg(env = "DELIVERY_LEASE_SECONDS", value_parser = seconds(1, 86_400))]
    pub lease_setting: Option<Duration>,
    /// The lease in use: `lease_setting`, or its default ([`Self::finish`]).
    #[arg(skip)]
    pub lease: Duration,
}

impl DeliverySettings {
    /// The concurrency (DELIVERY_CONCURRENCY, else Outpost's
    /// DELIVERY_MAX_CONCURRENCY, else 64), and the lease: as set, which
    /// must outlast the timeout (else a second worker could claim a
    /// delivery that is still being sent), or three timeouts and at least
    /// 30 s.
    pub(super) fn finish(&mut self) -> Result<(), String> {
        self.concurrency = self
            .concurrency_setting
            .or(self.max_concurrency_alias)
            .unwrap_or(64);
        let timeout = self.longest_timeout();
        self.lease = match self.lease_setting {
            Some(lease) if lease <= timeout => {
                return Err(format!(
                    "invalid value '{}' for '--delivery-lease-seconds <DELIVERY_LEASE_SECONDS>': \
                     must be longer than DELIVERY_TIMEOUT_SECONDS and \
                     DELIVERY_POLICY_MAX_TIMEOUT_SECONDS ({})",
                    lease.as_secs(),
                    timeout.as_secs()
                ))
            }
            Some(lease) => lease,
            None => (3 * timeout).max(Duration::from_secs(30)),
        };
        Ok(())
    }

    /// What a destination's delivery policy may ask for.
    pub fn policy_bounds(&self) -> PolicyBounds {
        PolicyBounds {
            max_retries: self.policy_max_retries,
            max_retry_delay: self.policy_max_retry_delay,
            max_timeout: self.policy_max_timeout_setting.unwrap_or(self.timeout),
        }
    }

    /// The longest an attempt may take: the deployment's timeout, or a
    /// destination's own up to DELIVERY_POLICY_MAX_TIMEOUT_SECONDS. Leases
    /// and the senders' own limits are sized by it.
    pub fn longest_timeout(&self) -> Duration {
        self.timeout.max(self.policy_bounds().max_timeout)
    }
}
