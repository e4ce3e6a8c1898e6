//! What a worker is told: its loop's sizes and times, and the thresholds
//! the recorder applies.

use std::time::Duration;

use crate::delivery::recorder;
use crate::domain::operator_event::Alerts;
use crate::store::deliveries::Thresholds;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Sends in flight at once in this process (`DELIVERY_CONCURRENCY`).
    pub concurrency: usize,
    /// Most deliveries claimed per round trip. Measured under load (`bench
    /// delivery` B): 100 → 300 took throughput from ~20k to ~22k
    /// deliveries/s; how many wait for a slot is further bounded by the
    /// lease (see `send_timeout`).
    pub batch_size: usize,
    /// How long a claim is exclusive; must outlast a send and its recording.
    pub lease: Duration,
    /// The longest a send may take (`DELIVERY_TIMEOUT_SECONDS`): it bounds
    /// how long a claimed delivery may wait for a slot (`sending`).
    pub send_timeout: Duration,
    /// How often an idle worker looks at the queue without a notification.
    pub poll_interval: Duration,
    /// How long in-flight sends may finish after shutdown is requested.
    pub grace: Duration,
    /// Auto-disable threshold (`ALERT_CONSECUTIVE_FAILURE_COUNT`), 0 = never...
    pub disable_after: u32,
    /// ... reached by a failure streak that has lasted at least this long
    /// (`ALERT_AUTO_DISABLE_MIN_FAILING_SECONDS`).
    pub disable_min_failing: Duration,
    /// Most deliveries this process holds for one slow or new destination
    /// (`DELIVERY_DESTINATION_CONCURRENCY`; see `fairness`).
    pub destination_cap: usize,
    /// Unanswered attempts in a row that open a destination's circuit
    /// (`DELIVERY_CIRCUIT_BREAKER_FAILURES`), 0 = no breaker.
    pub circuit_after: u32,
    /// How long a circuit first stays open
    /// (`DELIVERY_CIRCUIT_BREAKER_COOLDOWN_SECONDS`); doubles per reopening.
    pub circuit_cooldown: Duration,
    /// The operator events the recorder raises.
    pub alerts: Alerts,
}

impl WorkerConfig {
    pub(super) fn thresholds(&self) -> Thresholds {
        Thresholds {
            disable_after: i32::try_from(self.disable_after).unwrap_or(i32::MAX),
            disable_min_failing_ms: millis(self.disable_min_failing),
            failure_spacing_ms: millis(recorder::FAILURE_SPACING),
            circuit_after: i32::try_from(self.circuit_after).unwrap_or(i32::MAX),
            circuit_cooldown_ms: millis(self.circuit_cooldown),
            alerts: self.alerts,
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 64,
            batch_size: 300,
            lease: Duration::from_secs(30),
            send_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(250),
            grace: Duration::from_secs(10),
            disable_after: 20,
            disable_min_failing: Duration::from_secs(600),
            destination_cap: 16,
            circuit_after: 5,
            circuit_cooldown: Duration::from_secs(1),
            alerts: Alerts::default(),
        }
    }
}
