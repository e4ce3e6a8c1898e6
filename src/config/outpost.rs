//! Outpost's settings that outbound does not implement, each with the
//! reason, in one list: an Outpost configuration moved to outbound is
//! either honoured or refused by name at start-up, never silently ignored.
//!
//! Every variable of Outpost's configuration (its `internal/config` structs'
//! `env` tags) is in one of three places:
//!
//! - declared by outbound's own settings ([`super::Settings`]), with the
//!   same meaning (the table in docs/moving-from-outpost.md says
//!   where it differs);
//! - here as [`Verdict::Refused`]: setting it stops `outbound` with a
//!   message naming it and saying what to do instead. This is the default
//!   for anything a receiver, a tenant or the operator would notice missing
//!   (ids, headers, where logs or data live, error reports, traces);
//! - here as [`Verdict::Ignored`]: accepted with a warning line at start-up,
//!   for tuning knobs of Outpost's own machinery (its log batcher, its Redis
//!   retry scheduler, Gin) whose absence changes nothing anyone sees, and
//!   the anonymous-usage telemetry outbound does not have.
//!
//! Not listed, on purpose: `PUBLISH_*` (publishing from a queue, `intake`;
//! PUBLISH_IDEMPOTENCY_KEY_TTL excepted) and `TOPICS_ALLOW_WILDCARDS`,
//! which outbound declares in its own modules, and `LOG_LEVEL`, which the log set-up reads (`telemetry::logs`) before
//! the settings are parsed.
//!
//! A blank variable counts as unset here too (`REDIS_HOST=` in an env file
//! is fine), as it does for every declared setting. All offending variables
//! are reported at once, so one edit of the env file fixes them.

use super::Environment;

/// What outbound does with a variable Outpost has and outbound does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Start-up fails, naming the variable and this reason.
    Refused(&'static str),
    /// Refused unless its value is one of these (case-insensitive), which
    /// mean what outbound does anyway.
    RefusedUnless(&'static [&'static str], &'static str),
    /// Accepted; a warning line with this reason is logged at start-up.
    Ignored(&'static str),
}

/// One Outpost variable outbound does not declare.
#[derive(Debug, Clone, Copy)]
pub struct OutpostOnly {
    pub name: &'static str,
    pub verdict: Verdict,
}

const fn refused(name: &'static str, why: &'static str) -> OutpostOnly {
    OutpostOnly {
        name,
        verdict: Verdict::Refused(why),
    }
}

const fn ignored(name: &'static str, why: &'static str) -> OutpostOnly {
    OutpostOnly {
        name,
        verdict: Verdict::Ignored(why),
    }
}

const REDIS: &str = "outbound keeps tenants, destinations and retries in PostgreSQL and needs no \
                     Redis; remove it";
const CLICKHOUSE: &str = "outbound stores events and attempts in PostgreSQL, not ClickHouse \
                          (retention: LOG_RETENTION_DAYS); remove it";
const INTERNAL_MQ: &str = "this is Outpost's internal delivery/log queue; outbound queues \
                           deliveries in PostgreSQL and needs none (to publish events from a \
                           queue, use the PUBLISH_* settings); remove it";
const OTEL: &str = "outbound exports no OpenTelemetry; its metrics are served in Prometheus \
                    format at GET /metrics (METRICS_PORT); remove it";
const IDGEN: &str = "outbound generates its own ids (a destination's: `des_` and 20 \
                     alphanumerics) and has no ID generation setting; remove it";
const LOG_BATCH: &str = "tunes Outpost's log-writer batching; outbound records each attempt in \
                         the same transaction as its delivery, so there is nothing to batch";
const TELEMETRY: &str = "outbound sends no usage telemetry";

/// Every Outpost variable outbound neither declares nor leaves to another
/// module, with what outbound does when it is set.
pub const OUTPOST_ONLY: &[OutpostOnly] = &[
    // The process.
    OutpostOnly {
        name: "SERVICE",
        verdict: Verdict::RefusedUnless(
            &["all"],
            "outbound has no API-only or log-only process: `outbound serve` runs everything \
             (SERVICE=all), `outbound worker` runs delivery only (SERVICE=delivery); remove it \
             and pick the command",
        ),
    },
    ignored(
        "GIN_MODE",
        "outbound's HTTP server is not Gin and has no debug mode",
    ),
    // Outpost's infrastructure besides PostgreSQL.
    refused("REDIS_HOST", REDIS),
    refused("REDIS_PORT", REDIS),
    refused("REDIS_USERNAME", REDIS),
    refused("REDIS_PASSWORD", REDIS),
    refused("REDIS_DATABASE", REDIS),
    refused("REDIS_TLS_ENABLED", REDIS),
    refused("REDIS_CLUSTER_ENABLED", REDIS),
    refused("REDIS_DEV_CLUSTER_HOST_OVERRIDE", REDIS),
    refused("CLICKHOUSE_ADDR", CLICKHOUSE),
    refused("CLICKHOUSE_USERNAME", CLICKHOUSE),
    refused("CLICKHOUSE_PASSWORD", CLICKHOUSE),
    refused("CLICKHOUSE_DATABASE", CLICKHOUSE),
    refused("CLICKHOUSE_TLS_ENABLED", CLICKHOUSE),
    refused(
        "CLICKHOUSE_LOG_RETENTION_TTL_DAYS",
        "outbound's retention of events and attempts is LOG_RETENTION_DAYS (default 7); \
         set that instead",
    ),
    refused("MQS_AUTO_PROVISION", INTERNAL_MQ),
    refused("AWS_SQS_ACCESS_KEY_ID", INTERNAL_MQ),
    refused("AWS_SQS_SECRET_ACCESS_KEY", INTERNAL_MQ),
    refused("AWS_SQS_REGION", INTERNAL_MQ),
    refused("AWS_SQS_ENDPOINT", INTERNAL_MQ),
    refused("AWS_SQS_DELIVERY_QUEUE", INTERNAL_MQ),
    refused("AWS_SQS_DELIVERY_DLQ", INTERNAL_MQ),
    refused("AWS_SQS_LOG_QUEUE", INTERNAL_MQ),
    refused("AWS_SQS_LOG_DLQ", INTERNAL_MQ),
    refused("AZURE_SERVICEBUS_CONNECTION_STRING", INTERNAL_MQ),
    refused("AZURE_SERVICEBUS_TENANT_ID", INTERNAL_MQ),
    refused("AZURE_SERVICEBUS_CLIENT_ID", INTERNAL_MQ),
    refused("AZURE_SERVICEBUS_CLIENT_SECRET", INTERNAL_MQ),
    refused("AZURE_SERVICEBUS_SUBSCRIPTION_ID", INTERNAL_MQ),
    refused("AZURE_SERVICEBUS_RESOURCE_GROUP", INTERNAL_MQ),
    refused("AZURE_SERVICEBUS_NAMESPACE", INTERNAL_MQ),
    refused("AZURE_SERVICEBUS_DELIVERY_TOPIC", INTERNAL_MQ),
    refused("AZURE_SERVICEBUS_DELIVERY_SUBSCRIPTION", INTERNAL_MQ),
    refused("AZURE_SERVICEBUS_LOG_TOPIC", INTERNAL_MQ),
    refused("AZURE_SERVICEBUS_LOG_SUBSCRIPTION", INTERNAL_MQ),
    refused("GCP_PUBSUB_PROJECT", INTERNAL_MQ),
    refused("GCP_PUBSUB_SERVICE_ACCOUNT_CREDENTIALS", INTERNAL_MQ),
    refused("GCP_PUBSUB_DELIVERY_TOPIC", INTERNAL_MQ),
    refused("GCP_PUBSUB_DELIVERY_SUBSCRIPTION", INTERNAL_MQ),
    refused("GCP_PUBSUB_DELIVERY_DLQ_TOPIC", INTERNAL_MQ),
    refused("GCP_PUBSUB_DELIVERY_DLQ_SUBSCRIPTION", INTERNAL_MQ),
    refused("GCP_PUBSUB_LOG_TOPIC", INTERNAL_MQ),
    refused("GCP_PUBSUB_LOG_SUBSCRIPTION", INTERNAL_MQ),
    refused("GCP_PUBSUB_LOG_DLQ_TOPIC", INTERNAL_MQ),
    refused("GCP_PUBSUB_LOG_DLQ_SUBSCRIPTION", INTERNAL_MQ),
    refused("RABBITMQ_SERVER_URL", INTERNAL_MQ),
    refused("RABBITMQ_EXCHANGE", INTERNAL_MQ),
    refused("RABBITMQ_DELIVERY_QUEUE", INTERNAL_MQ),
    refused("RABBITMQ_DELIVERY_DLQ", INTERNAL_MQ),
    refused("RABBITMQ_LOG_QUEUE", INTERNAL_MQ),
    refused("RABBITMQ_LOG_DLQ", INTERNAL_MQ),
    // Outpost's machinery: tuning with no visible effect in outbound.
    ignored("LOG_BATCH_SIZE", LOG_BATCH),
    ignored("LOG_BATCH_THRESHOLD_SECONDS", LOG_BATCH),
    ignored("LOG_MAX_CONCURRENCY", LOG_BATCH),
    ignored(
        "RETRY_POLL_BACKOFF_MS",
        "tunes Outpost's Redis retry scheduler; outbound's workers claim due retries from \
         PostgreSQL and are woken when one is due",
    ),
    ignored(
        "RETRY_VISIBILITY_TIMEOUT_SECONDS",
        "tunes Outpost's Redis retry scheduler; outbound's claims are leases \
         (DELIVERY_LEASE_SECONDS)",
    ),
    ignored(
        "DELIVERY_IDEMPOTENCY_KEY_TTL",
        "de-duplicates Outpost's internal delivery queue; outbound claims each delivery under \
         a lease in PostgreSQL, so a delivery is never taken twice",
    ),
    ignored(
        "PUBLISH_IDEMPOTENCY_KEY_TTL",
        "how long Outpost remembers a published id; outbound refuses a repeated id for as long \
         as the event is kept (LOG_RETENTION_DAYS), from POST /publish, SQL and the publish queue",
    ),
    // Telemetry and observability.
    ignored("DISABLE_TELEMETRY", TELEMETRY),
    ignored("TELEMETRY_BATCH_SIZE", TELEMETRY),
    ignored("TELEMETRY_BATCH_INTERVAL", TELEMETRY),
    ignored("TELEMETRY_HOOKDECK_SOURCE_URL", TELEMETRY),
    refused(
        "TELEMETRY_SENTRY_DSN",
        "outbound does not report errors to Sentry; errors are logged (LOG_FORMAT=json for \
         machines) with their cause; remove it",
    ),
    refused("OTEL_SERVICE_NAME", OTEL),
    refused("OTEL_EXPORTER", OTEL),
    refused("OTEL_PROTOCOL", OTEL),
    // What tenants and receivers see.
    refused("IDGEN_TYPE", IDGEN),
    refused("IDGEN_ATTEMPT_PREFIX", IDGEN),
    refused("IDGEN_DESTINATION_PREFIX", IDGEN),
    refused("IDGEN_EVENT_PREFIX", IDGEN),
    refused(
        "DESTINATIONS_METADATA_PATH",
        "outbound's destination types and their descriptions are built in; custom type \
         definitions are not read; remove it",
    ),
    refused(
        "DESTINATIONS_INCLUDE_MILLISECOND_TIMESTAMP",
        "outbound does not add the `timestamp-ms` metadata (header) to deliveries; remove it",
    ),
    OutpostOnly {
        name: "DESTINATIONS_WEBHOOK_SIGNING_SECRET_TEMPLATE",
        verdict: Verdict::RefusedUnless(
            &["whsec_{{.RandomHex}}"],
            "outbound generates webhook secrets as `whsec_` and 64 hex characters (Outpost's \
             default, whsec_{{.RandomHex}}); other secret templates are not supported",
        ),
    },
    ignored(
        "PORTAL_PROXY_URL",
        "proxies Outpost's portal to a development server; outbound serves its portal's \
         assets itself",
    ),
];

/// What [`check`] found: warnings to log, or the refused variables.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Findings {
    /// One line per accepted-and-ignored variable that is set.
    pub warnings: Vec<String>,
    /// One line per refused variable that is set.
    pub refused: Vec<String>,
}

/// Checks `env` against [`OUTPOST_ONLY`].
pub fn check(env: &Environment) -> Findings {
    let mut findings = Findings::default();
    for entry in OUTPOST_ONLY {
        let Some(value) = env.value(entry.name) else {
            continue;
        };
        let name = entry.name;
        match entry.verdict {
            Verdict::Refused(why) => findings.refused.push(format!("{name}: {why}")),
            Verdict::RefusedUnless(allowed, _)
                if allowed.iter().any(|a| a.eq_ignore_ascii_case(value.trim())) => {}
            Verdict::RefusedUnless(_, why) => findings
                .refused
                .push(format!("{name}={value:?} is not supported: {why}")),
            Verdict::Ignored(why) => findings
                .warnings
                .push(format!("{name} is set but has no effect: {why}")),
        }
    }
    findings
}

impl Findings {
    /// The start-up error for the refused variables, if any.
    pub fn error(&self) -> Option<String> {
        if self.refused.is_empty() {
            return None;
        }
        Some(format!(
            "Outpost setting{} that outbound does not support (see \
             docs/moving-from-outpost.md):\n  {}\n",
            if self.refused.len() == 1 { "" } else { "s" },
            self.refused.join("\n  ")
        ))
    }
}
