//! What the process counts for `GET /metrics` (served by
//! `api::prometheus`), and how the process logs ([`logs`]). A leaf: the
//! counters take labels and numbers, so this module imports nothing of
//! the rest of the crate.
//!
//! The counters live in one process-wide set, [`counters`], so that the
//! code that does the work records it with one call (`telemetry::published`,
//! `telemetry::attempted`…) and needs no handle passed down to it, the way
//! `tracing` is used. Gauges (the queue, the pools) are not kept here: the
//! exporter reads them at scrape time.
//!
//! Counters are this process's since it started. Several processes
//! (`serve` and `worker`s) are summed by Prometheus, each being scraped.

pub mod logs;

use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

pub(crate) type Labels1 = [(&'static str, &'static str); 1];
pub(crate) type Labels2 = [(&'static str, &'static str); 2];

/// The process's counters (see the README's "Metrics and logs" for each).
pub struct Counters {
    events_published: Family<Labels1, Counter>,
    deliveries: Family<Labels2, Counter>,
    attempt_duration: Family<Labels1, Histogram, fn() -> Histogram>,
    stage_duration: Family<Labels1, Histogram, fn() -> Histogram>,
    /// `stage_duration`'s series, looked up once.
    stages: [Histogram; Stage::ALL.len()],
    lease_expiries: Counter,
    auto_disables: Counter,
    circuits_opened: Counter,
    operator_events: Family<Labels1, Counter>,
    publish_queue: Family<Labels2, Counter>,
}

/// Attempt durations from 5 ms to ~20 s (a send is cut at the delivery
/// timeout, 30 s by default; slower ones land in +Inf).
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// A delivery's way through a worker, stage by stage (see [`stage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// From the event's `time` (its publishing transaction's start, unless
    /// the publisher set a time) to the worker turning to claim it: the
    /// insert and its commit, the wake-up (NOTIFY or in-process) or the
    /// poll that found it. First attempts only.
    Wake,
    /// From the wake-up to the claim's answer.
    Claim,
    /// From the claim's answer to the send's start: waiting for a slot.
    Queue,
    /// The send: request out, response in (or failure).
    Send,
    /// From the send's end to the recorder's commit.
    Record,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Wake,
        Stage::Claim,
        Stage::Queue,
        Stage::Send,
        Stage::Record,
    ];

    /// The `stage` label of `outbound_delivery_stage_seconds`.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Wake => "wake",
            Stage::Claim => "claim",
            Stage::Queue => "queue",
            Stage::Send => "send",
            Stage::Record => "record",
        }
    }
}

/// Stage buckets from 50 µs to 5 s, close together where a delivery's
/// milliseconds are spent, so that percentiles read from them (as `bench
/// latency` does) are good to a bucket's width.
const STAGE_BUCKETS_MS: [f64; 30] = [
    0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0,
    8.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];

fn stage_histogram() -> Histogram {
    Histogram::new(STAGE_BUCKETS_MS.iter().map(|ms| ms / 1000.0))
}

static COUNTERS: LazyLock<Counters> = LazyLock::new(|| {
    let stage_duration: Family<Labels1, Histogram, fn() -> Histogram> =
        Family::new_with_constructor(stage_histogram);
    let stages = Stage::ALL.map(|s| {
        stage_duration
            .get_or_create(&[("stage", s.label())])
            .clone()
    });
    let c = Counters {
        events_published: Family::default(),
        deliveries: Family::default(),
        attempt_duration: Family::new_with_constructor(duration_histogram),
        stage_duration,
        stages,
        lease_expiries: Counter::default(),
        auto_disables: Counter::default(),
        circuits_opened: Counter::default(),
        operator_events: Family::default(),
        publish_queue: Family::default(),
    };
    // Series that exist from the start, at 0, so that a dashboard or an
    // alert on them works before the first occurrence.
    c.events_published
        .get_or_create(&[("path", "http")])
        .inc_by(0);
    c.operator_events
        .get_or_create(&[("result", "sent")])
        .inc_by(0);
    c.operator_events
        .get_or_create(&[("result", "failed")])
        .inc_by(0);
    c
});

/// One message taken from the publish queue (`PUBLISH_*`), from `source`
/// (`rabbitmq`, `aws_sqs`, `gcp_pubsub`, `azure_servicebus`), with what
/// became of it: `published`, `duplicate` (acknowledged, no new event),
/// `refused` (never publishable; removed from the queue) or `retried` (left
/// to the broker's redelivery).
pub fn publish_queue_message(source: &'static str, result: &'static str) {
    COUNTERS
        .publish_queue
        .get_or_create(&[("source", source), ("result", result)])
        .inc();
}

/// The process-wide counters.
pub fn counters() -> &'static Counters {
    &COUNTERS
}

/// `n` events accepted by `POST /publish`. (Events inserted by SQL never
/// pass through the process: the exporter reads them from Postgres.)
pub fn published_http(n: usize) {
    COUNTERS
        .events_published
        .get_or_create(&[("path", "http")])
        .inc_by(n as u64);
}

/// One claimed delivery's outcome (`outcome` as `delivery::outcome`
/// labels it), as its attempt ended: before it is recorded, so an outcome
/// whose lease was lost still counts here, and once more in
/// `outbound_lease_expiries_total`. `send_seconds` when a send was made.
pub fn attempted(destination_type: &'static str, outcome: &'static str, send_seconds: Option<f64>) {
    COUNTERS
        .deliveries
        .get_or_create(&[("outcome", outcome), ("destination_type", destination_type)])
        .inc();
    if let Some(seconds) = send_seconds {
        COUNTERS
            .attempt_duration
            .get_or_create(&[("destination_type", destination_type)])
            .observe(seconds);
    }
}

/// One delivery spent `took` in `stage`.
pub fn stage(stage: Stage, took: std::time::Duration) {
    let i = Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0);
    COUNTERS.stages[i].observe(took.as_secs_f64());
}

/// What one recorded batch changed: outcomes refused (their lease had
/// expired), destinations disabled, circuits opened.
pub fn recorded(refused: usize, disabled: usize, circuits_opened: usize) {
    COUNTERS.lease_expiries.inc_by(refused as u64);
    COUNTERS.auto_disables.inc_by(disabled as u64);
    COUNTERS.circuits_opened.inc_by(circuits_opened as u64);
}

/// An operator event delivered to its sink.
pub fn operator_event_sent() {
    COUNTERS
        .operator_events
        .get_or_create(&[("result", "sent")])
        .inc();
}

/// An operator event attempt that failed (it is retried like a delivery;
/// each failed attempt counts).
pub fn operator_event_failed() {
    COUNTERS
        .operator_events
        .get_or_create(&[("result", "failed")])
        .inc();
}

impl Counters {
    /// Adds the counters to `registry` (clones share the values).
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "outbound_events_published",
            "Events accepted by this process, by path (http: POST /publish)",
            self.events_published.clone(),
        );
        registry.register(
            "outbound_deliveries",
            "Claimed deliveries by outcome (success, retry, failed, circuit_open, held, dropped) and destination type",
            self.deliveries.clone(),
        );
        registry.register_with_unit(
            "outbound_attempt_duration",
            "How long sends took, by destination type",
            Unit::Seconds,
            self.attempt_duration.clone(),
        );
        registry.register_with_unit(
            "outbound_delivery_stage",
            "Where a delivery's time goes in a worker, by stage (wake, claim, queue, send, record)",
            Unit::Seconds,
            self.stage_duration.clone(),
        );
        registry.register(
            "outbound_lease_expiries",
            "Outcomes not recorded because the delivery's lease had expired (it is sent again)",
            self.lease_expiries.clone(),
        );
        registry.register(
            "outbound_destinations_auto_disabled",
            "Destinations disabled after consecutive failures",
            self.auto_disables.clone(),
        );
        registry.register(
            "outbound_circuits_opened",
            "Destination circuit breakers opened (attempts got no answer)",
            self.circuits_opened.clone(),
        );
        registry.register(
            "outbound_operator_events",
            "Operator events sent to their sink, by result (sent, failed)",
            self.operator_events.clone(),
        );
        registry.register(
            "outbound_publish_queue_messages",
            "Messages taken from the publish queue, by source and result (published, duplicate, refused, retried)",
            self.publish_queue.clone(),
        );
    }
}
