//! Each part of the service built from the settings.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::Secrets;
use crate::api::{AppState, Components};
use crate::config::Settings;
use crate::delivery::attempt::Attempter;
use crate::delivery::operator_events::OperatorEventSender;
use crate::delivery::operator_sinks::Sink;
use crate::delivery::worker::WorkerConfig;
use crate::destinations::credentials::Cipher;
use crate::destinations::sender::SenderContext;
use crate::destinations::Senders;
use crate::domain::catalog::Catalog;
use crate::domain::operator_event;
use crate::domain::retry::RetryPolicy;
use crate::domain::ssrf::NetworkPolicy;
use crate::domain::topic::TopicList;
use crate::net::http_client::{HttpClientConfig, HttpSender};
use crate::store::{self, Pool};

/// What maintain() needs to raise alert.attempt.exhausted_retries for the
/// deliveries it ends (it may run from pg_cron, with no process around).
/// Every process writes it as it starts (serve, worker, migrate): with
/// processes configured differently, the last one started wins.
pub(super) async fn apply_alert_settings(
    client: &impl store::GenericClient,
    settings: &Settings,
) -> anyhow::Result<()> {
    let ops = &settings.operator_events;
    store::maintenance::apply_alert_settings(
        client,
        ops.topics.exhausted_retries && ops.has_sink(),
        exhausted_window_ms(settings),
    )
    .await?;
    Ok(())
}

/// `ALERT_EXHAUSTED_RETRIES_WINDOW_SECONDS` in milliseconds.
pub(super) fn exhausted_window_ms(settings: &Settings) -> i64 {
    i64::try_from(
        settings
            .operator_events
            .exhausted_retries_window
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

/// The sender of the operator-event outbox, where a sink is configured.
pub(super) fn operator_event_sender(
    settings: &Settings,
    pool: &Pool,
    worker_id: &str,
) -> anyhow::Result<Option<OperatorEventSender>> {
    let ops = &settings.operator_events;
    let timeout = settings.delivery.timeout;
    let sink = match (&ops.http_url, &ops.queue) {
        (Some(url), _) => Sink::http(url.clone(), ops.signing_secret.clone(), timeout)?,
        (None, Some(queue)) => Sink::queue(queue, timeout)?,
        (None, None) => return Ok(None),
    };
    Ok(Some(OperatorEventSender::with_sink(
        pool.clone(),
        sink,
        ops.deployment_id.clone(),
        timeout,
        format!("{worker_id}/operator-events"),
    )))
}

/// The API's state from the settings.
pub(super) fn api_state(
    settings: &Settings,
    secrets: &Secrets,
    pool: Pool,
    components: Arc<Components>,
) -> anyhow::Result<AppState> {
    let catalog = match &settings.topics.catalog {
        Some(path) => Catalog::load(path).context("TOPICS_CATALOG")?,
        None => Catalog::default(),
    };
    // The topic list: TOPICS, or else the catalog's topics, or else any.
    let listed = match (&settings.topics.topics, catalog.entries().is_empty()) {
        (Some(t), _) => Some(t.clone()),
        (None, false) => Some(catalog.names()),
        (None, true) => None,
    };
    let topics =
        TopicList::new(listed.as_deref(), settings.topics.allow_wildcards).context("TOPICS")?;
    let network = NetworkPolicy::parse(&settings.delivery.allowed_networks.join(","))
        .context("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS")?;
    Ok(AppState {
        network: Arc::new(network),
        header_prefix: settings.destinations.webhook.header_prefix.clone(),
        operator_topics: settings.operator_events.topics,
        webhook_mode: settings.destinations.webhook.mode,
        publisher: store::publisher::Publisher::new(pool.clone()),
        pool,
        components,
        auth: Arc::new(secrets.auth.clone()),
        topics: Arc::new(topics),
        max_event_bytes: settings.api.max_event_bytes,
        body_read_timeout: settings.api.body_read_timeout,
        public_url: settings.api.public_url.clone(),
        cipher: Arc::new(Cipher::new(&secrets.aes)),
        max_destinations_per_tenant: settings.api.max_destinations_per_tenant,
        catalog: Arc::new(catalog),
        validate_schema: settings.topics.validate_schema,
        policy_bounds: settings.delivery.policy_bounds(),
        wake_worker: None,
        deliverable: Arc::from(Vec::new()),
        // The API's own runners, for checks at save and previews.
        transformer: crate::transform::Transformer::new(settings.transform.limits()),
    })
}

/// The senders of every deliverable type, from the settings.
pub(super) fn senders(settings: &Settings) -> anyhow::Result<Senders> {
    let d = &settings.delivery;
    let policy = Arc::new(
        NetworkPolicy::parse(&d.allowed_networks.join(","))
            .context("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS")?,
    );
    let defaults = HttpClientConfig::default();
    // Sized for the longest timeout a destination may have; each attempt
    // is cut at its destination's own (`Attempter::attempt`).
    let longest = d.longest_timeout();
    let http = HttpSender::new(HttpClientConfig {
        timeout: longest,
        connect_timeout: longest,
        policy: policy.clone(),
        user_agent: d
            .user_agent
            .clone()
            .unwrap_or_else(|| defaults.user_agent.clone()),
        ..defaults
    })
    .context("building the HTTP client")?;
    Ok(Senders::new(
        &SenderContext {
            http,
            policy,
            timeout: longest,
        },
        &settings.destinations,
    ))
}

/// The worker's loop settings and its attempter, from the settings.
pub(super) fn delivery(
    settings: &Settings,
    aes: &str,
    senders: Senders,
    transformer: crate::transform::Transformer,
) -> anyhow::Result<(WorkerConfig, Attempter)> {
    let d = &settings.delivery;
    let retry = match &d.retry_schedule {
        Some(schedule) => RetryPolicy::Schedule(schedule.clone()),
        None => RetryPolicy::Exponential {
            interval: d.retry_interval,
            max_retries: d.max_retry_limit,
        },
    };
    let cfg = WorkerConfig {
        concurrency: d.concurrency,
        lease: d.lease,
        send_timeout: d.longest_timeout(),
        grace: d.longest_timeout() + Duration::from_secs(2),
        disable_after: match settings.operator_events.auto_disable {
            true => d.disable_after_failures,
            false => 0,
        },
        disable_min_failing: d.disable_min_failing,
        alerts: operator_event::Alerts {
            topics: settings.operator_events.topics,
            threshold: i32::try_from(d.disable_after_failures).unwrap_or(i32::MAX),
            exhausted_window_ms: exhausted_window_ms(settings),
        },
        destination_cap: d.destination_concurrency,
        circuit_after: d.circuit_breaker_failures,
        circuit_cooldown: d.circuit_breaker_cooldown,
        ..WorkerConfig::default()
    };
    let attempter = Attempter {
        senders,
        retry,
        cipher: Some(Arc::new(Cipher::new(aes))),
        timeout: d.timeout,
        longest_timeout: d.longest_timeout(),
        circuits: Arc::default(),
        transformer,
    };
    Ok((cfg, attempter))
}
