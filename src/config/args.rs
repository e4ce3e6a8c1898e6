//! The settings as clap arguments: one per environment variable, each also
//! a flag, global to every subcommand.

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Arg, ArgAction};

use super::operator_sink::{self, SinkVars};
use super::parse::{
    aws_region, boolean, endpoint_url, hex_color, http_url, item, link, non_empty, operator_topic,
    seconds_item, text, theme, webhook_mode, whole,
};
use super::{
    ApiSettings, AwsSettings, DatabaseSettings, DeliverySettings, OperatorEventSettings,
    PortalSettings, RetentionSettings, Settings, TopicSettings,
};
use crate::domain::operator_event::OperatorTopics;
use crate::domain::signature::WebhookMode;

/// Every setting, one field per environment variable. Each is also a flag
/// named after it (`API_PORT` → `--api-port`); a flag wins over the
/// variable. Values are trimmed, as shells and env files leave stray spaces.
#[derive(clap::Args)]
#[command(next_help_heading = "Settings (environment variables)", mut_args = setting)]
pub struct SettingsArgs {
    /// Postgres to use; unset: run the private cluster
    #[arg(long, env = "DATABASE_URL")]
    #[arg(hide_env_values = true, value_parser = text)]
    database_url: Option<String>,
    /// Alias of DATABASE_URL (Outpost's name); DATABASE_URL wins
    #[arg(long, env = "POSTGRES_URL")]
    #[arg(hide_env_values = true, value_parser = text)]
    postgres_url: Option<String>,
    /// Folder of the private cluster and generated secrets
    #[arg(long, env = "OUTBOUND_DATA_DIR", default_value = "./.outbound")]
    #[arg(value_parser = text)]
    outbound_data_dir: String,
    /// API and maintenance connections per process (a worker has its own few)
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 16)]
    #[arg(value_parser = whole(1, 1000usize))]
    database_pool_size: usize,

    /// Interface the API and portal bind to
    #[arg(long, env = "API_HOST", default_value = "127.0.0.1")]
    #[arg(value_parser = text)]
    api_host: String,
    /// HTTP port of the API and portal
    #[arg(long, env = "API_PORT", default_value_t = 3333)]
    #[arg(value_parser = whole(0, u16::MAX))]
    api_port: u16,
    /// Port serving GET /metrics without authentication (on API_HOST);
    /// unset: only on the API's port, for the operator
    #[arg(long, env = "METRICS_PORT")]
    #[arg(value_parser = whole(0, u16::MAX))]
    metrics_port: Option<u16>,
    /// The operator's bearer token; required outside dev mode
    #[arg(long, env = "API_KEY")]
    #[arg(hide_env_values = true, value_parser = text)]
    api_key: Option<String>,
    /// HS256 key for tenant tokens; required outside dev mode
    #[arg(long, env = "API_JWT_SECRET")]
    #[arg(hide_env_values = true, value_parser = text)]
    api_jwt_secret: Option<String>,
    /// Key for credentials at rest; required outside dev mode
    #[arg(long, env = "AES_ENCRYPTION_SECRET")]
    #[arg(hide_env_values = true, value_parser = text)]
    aes_encryption_secret: Option<String>,
    /// Base URL of the API and portal in generated links; unset: the
    /// request's Host header
    #[arg(long, env = "API_PUBLIC_URL")]
    #[arg(value_parser = text)]
    api_public_url: Option<String>,
    /// Largest accepted event data, in bytes
    #[arg(long, env = "MAX_EVENT_SIZE_BYTES", default_value_t = 1024 * 1024)]
    #[arg(value_parser = whole(1, 64 * 1024 * 1024usize))]
    max_event_size_bytes: usize,
    /// Seconds a client has to send a request's headers (an idle keep-alive
    /// connection is closed after as long)
    #[arg(long, env = "API_HEADER_READ_TIMEOUT_SECONDS", default_value_t = 10)]
    #[arg(value_parser = whole(1, 3600u64))]
    api_header_read_timeout_seconds: u64,
    /// Seconds a client has to send a request's body
    #[arg(long, env = "API_BODY_READ_TIMEOUT_SECONDS", default_value_t = 30)]
    #[arg(value_parser = whole(1, 3600u64))]
    api_body_read_timeout_seconds: u64,
    /// Open connections to the API at once; more wait to be accepted
    #[arg(long, env = "API_MAX_CONNECTIONS", default_value_t = 1024)]
    #[arg(value_parser = whole(1, 1_000_000usize))]
    api_max_connections: usize,
    /// Destinations per tenant
    #[arg(long, env = "MAX_DESTINATIONS_PER_TENANT", default_value_t = 20)]
    #[arg(value_parser = whole(1, 100_000i64))]
    max_destinations_per_tenant: i64,

    /// Allowed topics, comma separated; unset: any topic
    #[arg(long, env = "TOPICS")]
    #[arg(value_delimiter = ',', value_parser = item)]
    topics: Option<Vec<String>>,
    /// Topic catalog file (YAML or JSON)
    #[arg(long, env = "TOPICS_CATALOG")]
    #[arg(value_parser = text)]
    topics_catalog: Option<String>,
    /// Validate published data against the topic's schema in the catalog:
    /// true, false, 1 or 0
    #[arg(long, env = "TOPICS_VALIDATE_SCHEMA", default_value_t = false)]
    #[arg(action = ArgAction::Set, value_parser = boolean)]
    topics_validate_schema: bool,

    /// Base of the exponential retry backoff, in seconds
    #[arg(long, env = "RETRY_INTERVAL_SECONDS", default_value_t = 30)]
    #[arg(value_parser = whole(1, 86_400u64))]
    retry_interval_seconds: u64,
    /// Retries after the first attempt
    #[arg(long, env = "MAX_RETRY_LIMIT", default_value_t = 10)]
    #[arg(value_parser = whole(0, 100u32))]
    max_retry_limit: u32,
    /// Explicit retry delays in whole seconds, comma separated (e.g.
    /// 5,60,600); replaces the two settings above
    // Items are `Option`s so that an empty item (`5,,60`, a trailing comma)
    // is skipped, as the other lists skip theirs, rather than refused.
    #[arg(long, env = "RETRY_SCHEDULE")]
    #[arg(value_delimiter = ',', value_parser = seconds_item)]
    retry_schedule: Option<Vec<Option<u64>>>,
    /// Per-attempt timeout, in seconds
    #[arg(long, env = "DELIVERY_TIMEOUT_SECONDS", default_value_t = 5)]
    #[arg(value_parser = whole(1, 300u64))]
    delivery_timeout_seconds: u64,
    /// Consecutive failures that disable a destination (failures in flight
    /// together count once); 0 = never
    #[arg(long, env = "ALERT_CONSECUTIVE_FAILURE_COUNT", default_value_t = 20)]
    #[arg(value_parser = whole(0, 1_000_000u32))]
    alert_consecutive_failure_count: u32,
    /// The least time, in seconds, a destination must have been failing
    /// (no success since) before its failures disable it
    #[arg(
        long,
        env = "ALERT_AUTO_DISABLE_MIN_FAILING_SECONDS",
        default_value_t = 600
    )]
    #[arg(value_parser = whole(0, 30 * 86_400u64))]
    alert_auto_disable_min_failing_seconds: u64,
    /// How webhooks are signed: `default` (Outpost) or `standard` (Standard Webhooks)
    #[arg(long, env = "DESTINATIONS_WEBHOOK_MODE", default_value = "default")]
    #[arg(value_parser = webhook_mode)]
    destinations_webhook_mode: WebhookMode,
    /// CIDRs exempt from the SSRF guard, comma separated
    #[arg(long, env = "DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS")]
    #[arg(value_delimiter = ',', value_parser = item)]
    destinations_webhook_allowed_networks: Vec<String>,
    /// In-flight sends per process
    #[arg(long, env = "DELIVERY_CONCURRENCY", default_value_t = 64)]
    #[arg(value_parser = whole(1, 10_000usize))]
    delivery_concurrency: usize,
    /// Most deliveries one process holds (waiting or in flight) for one
    /// slow (or not yet measured) destination
    #[arg(long, env = "DELIVERY_DESTINATION_CONCURRENCY", default_value_t = 16)]
    #[arg(value_parser = whole(1, 10_000usize))]
    delivery_destination_concurrency: usize,
    /// Attempts in a row without an answer (timeouts, refused connections)
    /// that open a destination's circuit; 0 = no circuit breaker
    #[arg(long, env = "DELIVERY_CIRCUIT_BREAKER_FAILURES", default_value_t = 5)]
    #[arg(value_parser = whole(0, 1_000_000u32))]
    delivery_circuit_breaker_failures: u32,
    /// How long an opened circuit first stays open, in seconds (doubles
    /// with each reopening, up to 8×)
    #[arg(
        long,
        env = "DELIVERY_CIRCUIT_BREAKER_COOLDOWN_SECONDS",
        default_value_t = 1
    )]
    #[arg(value_parser = whole(1, 86_400u64))]
    delivery_circuit_breaker_cooldown_seconds: u64,
    /// Async runtime threads of `outbound worker` (more processes scale out too)
    #[arg(long, env = "WORKER_THREADS", default_value_t = 1)]
    #[arg(value_parser = whole(1, 1024usize))]
    worker_threads: usize,
    /// How long a claimed delivery is exclusive to its worker, in seconds;
    /// longer than the timeout. Default max(30, 3 × DELIVERY_TIMEOUT_SECONDS)
    #[arg(long, env = "DELIVERY_LEASE_SECONDS")]
    #[arg(value_parser = whole(1, 86_400u64))]
    delivery_lease_seconds: Option<u64>,
    /// What is signed; placeholders {body}, {timestamp}, {event_id}, {topic}
    #[arg(long, env = "DESTINATIONS_WEBHOOK_SIGNATURE_CONTENT_TEMPLATE")]
    #[arg(default_value = "{body}", value_parser = text)]
    destinations_webhook_signature_content_template: String,
    /// The signature header's value; {signatures} is the comma-joined list
    #[arg(long, env = "DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_TEMPLATE")]
    #[arg(default_value = "v0={signatures}", value_parser = text)]
    destinations_webhook_signature_header_template: String,
    /// Prefix of identity and metadata headers (lowercased)
    #[arg(
        long,
        env = "DESTINATIONS_WEBHOOK_HEADER_PREFIX",
        default_value = "x-outpost-"
    )]
    #[arg(value_parser = text)]
    destinations_webhook_header_prefix: String,
    /// Base URL of Hookdeck's ingest endpoint (a stand-in for tests)
    #[arg(
        long,
        env = "DESTINATIONS_HOOKDECK_INGEST_URL",
        default_value = "https://hkdk.events"
    )]
    #[arg(value_parser = http_url)]
    destinations_hookdeck_ingest_url: String,
    /// Kinesis records carry `{"metadata": …, "data": …}` (true) or the
    /// event's data alone (false): true, false, 1 or 0
    #[arg(
        long,
        env = "DESTINATIONS_AWS_KINESIS_METADATA_IN_PAYLOAD",
        default_value_t = true
    )]
    #[arg(action = ArgAction::Set, value_parser = boolean)]
    destinations_aws_kinesis_metadata_in_payload: bool,
    /// Endpoint of every AWS service (an emulator such as moto or
    /// LocalStack); unset: AWS itself
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    #[arg(value_parser = endpoint_url)]
    aws_endpoint_url: Option<String>,
    /// Endpoint of SQS; wins over AWS_ENDPOINT_URL and the queue URL's host
    #[arg(long, env = "AWS_ENDPOINT_URL_SQS")]
    #[arg(value_parser = endpoint_url)]
    aws_endpoint_url_sqs: Option<String>,
    /// Endpoint of S3 (path-style addressing); wins over AWS_ENDPOINT_URL
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    #[arg(value_parser = endpoint_url)]
    aws_endpoint_url_s3: Option<String>,
    /// Endpoint of Kinesis; wins over AWS_ENDPOINT_URL, a destination's
    /// own `endpoint` wins over it
    #[arg(long, env = "AWS_ENDPOINT_URL_KINESIS")]
    #[arg(value_parser = endpoint_url)]
    aws_endpoint_url_kinesis: Option<String>,
    /// Region of SQS queues whose URL names none (an emulator's)
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    #[arg(value_parser = aws_region)]
    aws_region: String,

    /// How long events and attempts are kept, in days
    #[arg(long, env = "LOG_RETENTION_DAYS", default_value_t = 7)]
    #[arg(value_parser = whole(1, 3650u32))]
    log_retention_days: u32,

    /// Portal: where "back" and an expired session lead
    #[arg(long, env = "PORTAL_REFERER_URL")]
    #[arg(value_parser = link)]
    portal_referer_url: Option<String>,
    /// Portal: where a user gets a fresh session
    #[arg(long, env = "PORTAL_REFRESH_URL")]
    #[arg(value_parser = link)]
    portal_refresh_url: Option<String>,
    /// Portal: favicon URL
    #[arg(long, env = "PORTAL_FAVICON_URL")]
    #[arg(value_parser = link)]
    portal_favicon_url: Option<String>,
    /// Portal: accent colour, #rgb or #rrggbb
    #[arg(long, env = "PORTAL_BRAND_COLOR")]
    #[arg(value_parser = hex_color)]
    portal_brand_color: Option<String>,
    /// Portal: logo URL (light theme)
    #[arg(long, env = "PORTAL_LOGO")]
    #[arg(value_parser = link)]
    portal_logo: Option<String>,
    /// Portal: logo URL (dark theme)
    #[arg(long, env = "PORTAL_LOGO_DARK")]
    #[arg(value_parser = link)]
    portal_logo_dark: Option<String>,
    /// Portal: organization name in the header and title
    #[arg(long, env = "PORTAL_ORGANIZATION_NAME")]
    #[arg(value_parser = text)]
    portal_organization_name: Option<String>,
    /// Portal: `light` or `dark` for everyone; unset: the user's choice
    #[arg(long, env = "PORTAL_FORCE_THEME")]
    #[arg(value_parser = theme)]
    portal_force_theme: Option<String>,
    /// Portal: hide "Powered by outbound"
    #[arg(long, env = "PORTAL_DISABLE_OUTPOST_BRANDING", default_value = "false")]
    #[arg(value_parser = boolean)]
    portal_disable_outpost_branding: bool,
    /// Portal: show the payload filter editor
    #[arg(long, env = "PORTAL_ENABLE_DESTINATION_FILTER", default_value = "true")]
    #[arg(value_parser = boolean)]
    portal_enable_destination_filter: bool,
    /// Portal: show custom headers on webhook destinations
    #[arg(
        long,
        env = "PORTAL_ENABLE_WEBHOOK_CUSTOM_HEADERS",
        default_value = "true"
    )]
    #[arg(value_parser = boolean)]
    portal_enable_webhook_custom_headers: bool,

    /// Operator events to emit, comma separated; `*` for all; empty: none
    #[arg(long, env = "OPERATOR_EVENTS_TOPICS")]
    #[arg(value_delimiter = ',', value_parser = operator_topic)]
    operator_events_topics: Vec<String>,
    /// Where operator events are POSTed
    #[arg(long, env = "OPERATOR_EVENTS_HTTP_URL")]
    #[arg(value_parser = http_url)]
    operator_events_http_url: Option<String>,
    /// Key of the operator events' X-Outpost-Signature (HMAC-SHA256)
    #[arg(long, env = "OPERATOR_EVENTS_HTTP_SIGNING_SECRET")]
    #[arg(hide_env_values = true, value_parser = text)]
    operator_events_http_signing_secret: Option<String>,
    /// Operator events to this SQS queue instead (one sink only)
    #[arg(long, env = "OPERATOR_EVENTS_AWS_SQS_QUEUE_URL")]
    #[arg(value_parser = text)]
    operator_events_aws_sqs_queue_url: Option<String>,
    /// Access key id of the operator events' SQS queue
    #[arg(long, env = "OPERATOR_EVENTS_AWS_SQS_ACCESS_KEY_ID")]
    #[arg(hide_env_values = true, value_parser = text)]
    operator_events_aws_sqs_access_key_id: Option<String>,
    /// Secret access key of the operator events' SQS queue
    #[arg(long, env = "OPERATOR_EVENTS_AWS_SQS_SECRET_ACCESS_KEY")]
    #[arg(hide_env_values = true, value_parser = text)]
    operator_events_aws_sqs_secret_access_key: Option<String>,
    /// Region of the operator events' SQS queue; unset: the queue URL's
    #[arg(long, env = "OPERATOR_EVENTS_AWS_SQS_REGION")]
    #[arg(value_parser = aws_region)]
    operator_events_aws_sqs_region: Option<String>,
    /// Endpoint of the operator events' SQS (an emulator); unset: the queue URL's host
    #[arg(long, env = "OPERATOR_EVENTS_AWS_SQS_ENDPOINT")]
    #[arg(value_parser = endpoint_url)]
    operator_events_aws_sqs_endpoint: Option<String>,
    /// Operator events to this Google Cloud project's Pub/Sub instead (one sink only)
    #[arg(long, env = "OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID")]
    #[arg(value_parser = text)]
    operator_events_gcp_pubsub_project_id: Option<String>,
    /// Pub/Sub topic of the operator events
    #[arg(long, env = "OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID")]
    #[arg(value_parser = text)]
    operator_events_gcp_pubsub_topic_id: Option<String>,
    /// Service-account key JSON publishing the operator events
    #[arg(long, env = "OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS")]
    #[arg(hide_env_values = true, value_parser = text)]
    operator_events_gcp_pubsub_credentials: Option<String>,
    /// Pub/Sub endpoint of the operator events (host:port of an emulator, or https://…)
    #[arg(long, env = "OPERATOR_EVENTS_GCP_PUBSUB_ENDPOINT")]
    #[arg(value_parser = text)]
    operator_events_gcp_pubsub_endpoint: Option<String>,
    /// Operator events to this RabbitMQ instead, amqp://user:password@host:port/vhost (one sink only)
    #[arg(long, env = "OPERATOR_EVENTS_RABBITMQ_SERVER_URL")]
    #[arg(hide_env_values = true, value_parser = text)]
    operator_events_rabbitmq_server_url: Option<String>,
    /// RabbitMQ exchange of the operator events (routing key: the topic)
    #[arg(long, env = "OPERATOR_EVENTS_RABBITMQ_EXCHANGE")]
    #[arg(value_parser = text)]
    operator_events_rabbitmq_exchange: Option<String>,
    /// Put in every operator event as `deployment_id`; unset: left out
    #[arg(long, env = "DEPLOYMENT_ID")]
    #[arg(value_parser = text)]
    deployment_id: Option<String>,
    /// Disable a destination at ALERT_CONSECUTIVE_FAILURE_COUNT failures
    #[arg(long, env = "ALERT_AUTO_DISABLE_DESTINATION", default_value = "true")]
    #[arg(value_parser = boolean)]
    alert_auto_disable_destination: bool,
    /// At most one alert.attempt.exhausted_retries per destination per this many seconds
    #[arg(
        long,
        env = "ALERT_EXHAUSTED_RETRIES_WINDOW_SECONDS",
        default_value_t = 3600
    )]
    #[arg(value_parser = whole(0, 30 * 86_400u64))]
    alert_exhausted_retries_window_seconds: u64,
}

impl SettingsArgs {
    /// The nested settings, after the one rule that spans two variables:
    /// a lease no longer than the timeout would let a second worker claim a
    /// delivery that is still being sent. The error reads like clap's own.
    pub fn into_settings(self) -> Result<Settings, clap::Error> {
        let timeout = self.delivery_timeout_seconds;
        let lease = match self.delivery_lease_seconds {
            Some(lease) if lease <= timeout => {
                return Err(clap::Error::raw(
                    ErrorKind::ValueValidation,
                    format!(
                        "invalid value '{lease}' for '--delivery-lease-seconds \
                         <DELIVERY_LEASE_SECONDS>': must be longer than \
                         DELIVERY_TIMEOUT_SECONDS ({timeout})"
                    ),
                ))
            }
            Some(lease) => lease,
            None => (3 * timeout).max(30),
        };
        let operator_topics = OperatorTopics::parse(&self.operator_events_topics)
            .map_err(|e| clap::Error::raw(ErrorKind::ValueValidation, e))?;
        let queue_sink = operator_sink::resolve(
            SinkVars {
                http_url: self.operator_events_http_url.clone(),
                sqs_queue_url: self.operator_events_aws_sqs_queue_url,
                sqs_access_key_id: self.operator_events_aws_sqs_access_key_id,
                sqs_secret_access_key: self.operator_events_aws_sqs_secret_access_key,
                sqs_region: self.operator_events_aws_sqs_region,
                sqs_endpoint: self.operator_events_aws_sqs_endpoint,
                pubsub_project_id: self.operator_events_gcp_pubsub_project_id,
                pubsub_topic_id: self.operator_events_gcp_pubsub_topic_id,
                pubsub_credentials: self.operator_events_gcp_pubsub_credentials,
                pubsub_endpoint: self.operator_events_gcp_pubsub_endpoint,
                rabbitmq_server_url: self.operator_events_rabbitmq_server_url,
                rabbitmq_exchange: self.operator_events_rabbitmq_exchange,
            },
            operator_topics.any(),
        )
        .map_err(|e| clap::Error::raw(ErrorKind::ValueValidation, format!("{e}\n")))?;
        Ok(Settings {
            database: DatabaseSettings {
                url: self.database_url.or(self.postgres_url),
                data_dir: PathBuf::from(self.outbound_data_dir),
                pool_size: self.database_pool_size,
            },
            api: ApiSettings {
                host: self.api_host,
                port: self.api_port,
                metrics_port: self.metrics_port,
                api_key: self.api_key,
                jwt_secret: self.api_jwt_secret,
                aes_secret: self.aes_encryption_secret,
                public_url: self.api_public_url,
                max_event_bytes: self.max_event_size_bytes,
                header_read_timeout: Duration::from_secs(self.api_header_read_timeout_seconds),
                body_read_timeout: Duration::from_secs(self.api_body_read_timeout_seconds),
                max_connections: self.api_max_connections,
                max_destinations_per_tenant: self.max_destinations_per_tenant,
            },
            topics: TopicSettings {
                topics: self.topics.map(non_empty),
                catalog: self.topics_catalog.map(PathBuf::from),
                validate_schema: self.topics_validate_schema,
            },
            delivery: DeliverySettings {
                retry_interval: Duration::from_secs(self.retry_interval_seconds),
                max_retry_limit: self.max_retry_limit,
                retry_schedule: self.retry_schedule.map(|items| {
                    items
                        .into_iter()
                        .flatten()
                        .map(Duration::from_secs)
                        .collect()
                }),
                timeout: Duration::from_secs(timeout),
                disable_after_failures: self.alert_consecutive_failure_count,
                disable_min_failing: Duration::from_secs(
                    self.alert_auto_disable_min_failing_seconds,
                ),
                webhook_mode: self.destinations_webhook_mode,
                allowed_networks: non_empty(self.destinations_webhook_allowed_networks),
                concurrency: self.delivery_concurrency,
                destination_concurrency: self.delivery_destination_concurrency,
                circuit_breaker_failures: self.delivery_circuit_breaker_failures,
                circuit_breaker_cooldown: Duration::from_secs(
                    self.delivery_circuit_breaker_cooldown_seconds,
                ),
                worker_threads: self.worker_threads,
                lease: Duration::from_secs(lease),
                signature_content_template: self.destinations_webhook_signature_content_template,
                signature_header_template: self.destinations_webhook_signature_header_template,
                header_prefix: self.destinations_webhook_header_prefix.to_ascii_lowercase(),
                hookdeck_ingest_url: self.destinations_hookdeck_ingest_url,
                aws: AwsSettings {
                    endpoint: self.aws_endpoint_url,
                    sqs_endpoint: self.aws_endpoint_url_sqs,
                    s3_endpoint: self.aws_endpoint_url_s3,
                    kinesis_endpoint: self.aws_endpoint_url_kinesis,
                    region: self.aws_region,
                    kinesis_metadata_in_payload: self.destinations_aws_kinesis_metadata_in_payload,
                },
            },
            retention: RetentionSettings {
                days: self.log_retention_days,
            },
            portal: PortalSettings {
                referer_url: self.portal_referer_url,
                refresh_url: self.portal_refresh_url,
                favicon_url: self.portal_favicon_url,
                brand_color: self.portal_brand_color,
                logo: self.portal_logo,
                logo_dark: self.portal_logo_dark,
                organization_name: self.portal_organization_name,
                force_theme: self.portal_force_theme,
                disable_branding: self.portal_disable_outpost_branding,
                enable_destination_filter: self.portal_enable_destination_filter,
                enable_webhook_custom_headers: self.portal_enable_webhook_custom_headers,
            },
            operator_events: OperatorEventSettings {
                topics: operator_topics,
                http_url: self.operator_events_http_url,
                signing_secret: self.operator_events_http_signing_secret,
                queue: queue_sink,
                deployment_id: self.deployment_id,
                auto_disable: self.alert_auto_disable_destination,
                exhausted_retries_window: Duration::from_secs(
                    self.alert_exhausted_retries_window_seconds,
                ),
            },
        })
    }
}

/// What every setting has in common, applied to each argument of
/// [`SettingsArgs`]:
///
/// - it is global, so `outbound serve --api-port 8080` works as well as
///   `outbound --api-port 8080 serve`. (clap then reads a global argument's
///   variable for the subcommand too, so an invalid variable is an error
///   even when a flag replaces it.)
/// - a variable set to the empty (or blank) string counts as unset, as
///   `FOO= outbound serve` and env files with `FOO=` mean. clap 4 would pass
///   the empty string to the value parser instead (an error for a number,
///   `Some("")` for a string), so a blank variable is dropped from its
///   argument here, before parsing. (`--help` then omits that one
///   variable's `[env: …]` note; nothing else changes.)
fn setting(arg: Arg) -> Arg {
    let blank = arg
        .get_env()
        .and_then(std::env::var_os)
        .is_some_and(|value| value.to_string_lossy().trim().is_empty());
    let arg = arg.global(true);
    if blank {
        arg.env(None::<&str>)
    } else {
        arg
    }
}

impl Settings {
    /// Parses settings from flags alone (`--api-port 0`), through the same
    /// clap parser as the binary. The environment is ignored, so a test (or
    /// a program embedding the service) cannot pick up the `DATABASE_URL`
    /// of the machine that runs it.
    pub fn from_args<I, T>(args: I) -> Result<Settings, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{Args as _, FromArgMatches as _};
        let command = SettingsArgs::augment_args(clap::Command::new("outbound"))
            .mut_args(|arg| arg.env(None::<&str>));
        let matches = command.try_get_matches_from(
            std::iter::once(std::ffi::OsString::from("outbound"))
                .chain(args.into_iter().map(Into::into)),
        )?;
        SettingsArgs::from_arg_matches(&matches)?.into_settings()
    }
}

#[cfg(test)]
mod tests {
    use clap::Args as _;

    use super::*;

    fn parse(args: &[&str]) -> Settings {
        Settings::from_args(args).unwrap()
    }

    fn error(args: &[&str]) -> String {
        Settings::from_args(args).unwrap_err().to_string()
    }

    #[test]
    fn defaults_match_the_design() {
        let s = parse(&[]);
        assert_eq!(s.database.url, None);
        assert_eq!(s.database.data_dir, PathBuf::from("./.outbound"));
        assert_eq!(s.api.port, 3333);
        assert_eq!(s.api.host, "127.0.0.1");
        assert_eq!(s.delivery.retry_interval, Duration::from_secs(30));
        assert_eq!(s.delivery.max_retry_limit, 10);
        assert_eq!(s.delivery.timeout, Duration::from_secs(5));
        assert_eq!(s.delivery.disable_after_failures, 20);
        assert_eq!(s.delivery.concurrency, 64);
        assert_eq!(s.delivery.webhook_mode, WebhookMode::Default);
        assert_eq!(s.retention.days, 7);
        assert_eq!(s.topics.topics, None);
        assert_eq!(s.delivery.lease, Duration::from_secs(30));
        assert_eq!(s.delivery.header_prefix, "x-outpost-");
        assert!(!s.topics.validate_schema);
        assert!(s.delivery.aws.kinesis_metadata_in_payload);
        assert_eq!(s.delivery.aws.region, "us-east-1");
        assert_eq!(s.delivery.aws.endpoint, None);
    }

    #[test]
    fn aws_endpoints_and_kinesis_payload() {
        let s = parse(&[
            "--aws-endpoint-url",
            "http://127.0.0.1:5000/",
            "--aws-endpoint-url-s3",
            "http://s3.local:9000",
            "--aws-region",
            "eu-west-1",
            "--destinations-aws-kinesis-metadata-in-payload",
            "false",
        ]);
        let aws = &s.delivery.aws;
        assert_eq!(aws.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(aws.s3_endpoint.as_deref(), Some("http://s3.local:9000"));
        assert_eq!(aws.sqs_endpoint, None);
        assert_eq!(aws.region, "eu-west-1");
        assert!(!aws.kinesis_metadata_in_payload);
        let err = error(&["--aws-endpoint-url-sqs", "localhost:4566"]);
        assert!(err.contains("AWS_ENDPOINT_URL_SQS"), "{err}");
        let err = error(&["--aws-endpoint-url", "http://h/path"]);
        assert!(err.contains("AWS_ENDPOINT_URL"), "{err}");
        let err = error(&["--aws-region", "Europe"]);
        assert!(err.contains("AWS_REGION"), "{err}");
    }

    #[test]
    fn postgres_url_is_an_alias() {
        let s = parse(&["--postgres-url", "postgres://x/y"]);
        assert_eq!(s.database.url.as_deref(), Some("postgres://x/y"));
        let s = parse(&[
            "--postgres-url",
            "postgres://x/y",
            "--database-url",
            "postgres://a/b",
        ]);
        assert_eq!(s.database.url.as_deref(), Some("postgres://a/b"));
    }

    #[test]
    fn lists_and_schedules_parse() {
        let s = parse(&[
            "--topics",
            "user.created, user.updated,,",
            "--retry-schedule",
            "5,60,600",
            "--destinations-webhook-mode",
            "standard",
        ]);
        assert_eq!(
            s.topics.topics,
            Some(vec!["user.created".into(), "user.updated".into()])
        );
        assert_eq!(
            s.delivery.retry_schedule,
            Some(vec![
                Duration::from_secs(5),
                Duration::from_secs(60),
                Duration::from_secs(600)
            ])
        );
        assert_eq!(s.delivery.webhook_mode, WebhookMode::Standard);

        let s = parse(&["--retry-schedule", " 5, ,60,", "--api-port", " 8080 "]);
        assert_eq!(
            s.delivery.retry_schedule,
            Some(vec![Duration::from_secs(5), Duration::from_secs(60)])
        );
        assert_eq!(s.api.port, 8080);
    }

    #[test]
    fn other_values_are_read_as_before() {
        let s = parse(&[
            "--destinations-webhook-header-prefix",
            "X-Acme-",
            "--topics-validate-schema",
            "1",
            "--destinations-webhook-allowed-networks",
            "10.0.0.0/8, 127.0.0.0/8",
        ]);
        assert_eq!(s.delivery.header_prefix, "x-acme-");
        assert!(s.topics.validate_schema);
        assert_eq!(
            s.delivery.allowed_networks,
            vec!["10.0.0.0/8".to_string(), "127.0.0.0/8".to_string()]
        );
        assert!(
            !parse(&["--topics-validate-schema", "false"])
                .topics
                .validate_schema
        );
        let err = error(&["--topics-validate-schema", "yes"]);
        assert!(err.contains("TOPICS_VALIDATE_SCHEMA"), "{err}");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = error(&["--api-port", "http"]);
        assert!(err.contains("API_PORT"), "{err}");
        let err = error(&["--log-retention-days", "0"]);
        assert!(err.contains("between 1 and 3650"), "{err}");
        let err = error(&["--retry-schedule", "5,soon"]);
        assert!(err.contains("\"soon\""), "{err}");
        let err = error(&["--destinations-webhook-mode", "svix"]);
        assert!(err.contains("DESTINATIONS_WEBHOOK_MODE"), "{err}");
    }

    /// An empty value for a variable means unset: that is applied to the
    /// environment before parsing (`setting`, tested end to end by
    /// `tests/it/serve.rs`). An empty flag is a mistake, not a default.
    #[test]
    fn an_empty_flag_is_refused() {
        let err = error(&["--api-host", ""]);
        assert!(
            err.contains("API_HOST") && err.contains("must not be empty"),
            "{err}"
        );
        let err = error(&["--delivery-lease-seconds", " "]);
        assert!(err.contains("DELIVERY_LEASE_SECONDS"), "{err}");
    }

    #[test]
    fn the_lease_defaults_to_three_timeouts_and_must_outlast_one() {
        let s = parse(&["--delivery-timeout-seconds", "20"]);
        assert_eq!(s.delivery.lease, Duration::from_secs(60));
        let s = parse(&[
            "--delivery-timeout-seconds",
            "60",
            "--delivery-lease-seconds",
            "61",
        ]);
        assert_eq!(s.delivery.lease, Duration::from_secs(61));
        let err = error(&[
            "--delivery-timeout-seconds",
            "60",
            "--delivery-lease-seconds",
            "60",
        ]);
        assert!(
            err.contains("DELIVERY_LEASE_SECONDS") && err.contains("longer than"),
            "{err}"
        );
    }

    /// Errors name the variable because each argument's value name is the
    /// variable's name (`--api-port <API_PORT>`), and the flag is the
    /// variable's name in kebab case. Checked for every setting, so a new
    /// one cannot break the pattern unnoticed.
    #[test]
    fn every_setting_is_a_variable_and_a_flag_of_the_same_name() {
        let command = SettingsArgs::augment_args(clap::Command::new("outbound"));
        let mut vars = Vec::new();
        for arg in command.get_arguments() {
            let var = arg.get_env().and_then(|v| v.to_str()).unwrap_or_default();
            assert!(!var.is_empty(), "{} has no variable", arg.get_id());
            let flag = var.to_ascii_lowercase().replace('_', "-");
            assert_eq!(arg.get_long(), Some(flag.as_str()));
            let names: Vec<_> = arg.get_value_names().unwrap_or_default().to_vec();
            assert_eq!(names, [var], "value name of {var}");
            assert!(arg.is_global_set(), "{var} is global");
            vars.push(var.to_string());
        }
        // DESIGN.md §7's names.
        for var in [
            "DATABASE_URL",
            "POSTGRES_URL",
            "OUTBOUND_DATA_DIR",
            "API_PORT",
            "API_KEY",
            "API_JWT_SECRET",
            "AES_ENCRYPTION_SECRET",
            "TOPICS",
            "TOPICS_CATALOG",
            "RETRY_INTERVAL_SECONDS",
            "MAX_RETRY_LIMIT",
            "RETRY_SCHEDULE",
            "DELIVERY_TIMEOUT_SECONDS",
            "ALERT_CONSECUTIVE_FAILURE_COUNT",
            "DESTINATIONS_WEBHOOK_MODE",
            "DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS",
            "LOG_RETENTION_DAYS",
            "DELIVERY_CONCURRENCY",
        ] {
            assert!(vars.iter().any(|v| v == var), "{var} is missing");
        }
    }

    #[test]
    fn operator_event_topics_need_a_sink_and_known_names() {
        let base = ["--operator-events-topics", "*"];
        assert!(Settings::from_args(base).is_err(), "no sink");
        let s = Settings::from_args([
            "--operator-events-topics",
            "alert.destination.disabled, tenant.subscription.updated",
            "--operator-events-http-url",
            "http://ops.internal/events",
        ])
        .unwrap();
        assert!(s.operator_events.topics.disabled && s.operator_events.topics.subscription_updated);
        assert!(!s.operator_events.topics.exhausted_retries);
        assert!(s.operator_events.auto_disable, "on by default");
        assert!(Settings::from_args([
            "--operator-events-topics",
            "alert.nope",
            "--operator-events-http-url",
            "http://ops.internal/events",
        ])
        .is_err());
    }

    #[test]
    fn a_queue_sink_and_the_deployment_id_are_read_from_their_variables() {
        let s = Settings::from_args([
            "--operator-events-topics",
            "*",
            "--operator-events-rabbitmq-server-url",
            "amqp://ops:pw@rabbit.internal:5672/",
            "--operator-events-rabbitmq-exchange",
            "ops",
            "--deployment-id",
            "eu-1",
        ])
        .unwrap();
        let ops = &s.operator_events;
        assert!(ops.has_sink() && ops.http_url.is_none());
        assert_eq!(ops.deployment_id.as_deref(), Some("eu-1"));
        assert!(matches!(
            ops.queue,
            Some(super::super::QueueSink::Rabbitmq { ref server_url, .. }) if server_url == "rabbit.internal:5672"
        ));
        assert!(
            !format!("{s:?}").contains("pw@"),
            "no secret in debug output"
        );

        let err = Settings::from_args([
            "--operator-events-http-url",
            "http://ops.internal/events",
            "--operator-events-gcp-pubsub-project-id",
            "acme-ops",
            "--operator-events-gcp-pubsub-topic-id",
            "ops",
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "OPERATOR_EVENTS_HTTP_URL and OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID are both set"
            ),
            "{err}"
        );
        assert!(parse(&[]).operator_events.deployment_id.is_none());
    }

    /// `--help` shows `[env: NAME=value]` for a variable that is set:
    /// never for one holding a secret.
    #[test]
    fn secret_settings_hide_their_values_in_help() {
        let command = SettingsArgs::augment_args(clap::Command::new("outbound"));
        for var in [
            "OPERATOR_EVENTS_HTTP_SIGNING_SECRET",
            "OPERATOR_EVENTS_AWS_SQS_ACCESS_KEY_ID",
            "OPERATOR_EVENTS_AWS_SQS_SECRET_ACCESS_KEY",
            "OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS",
            "OPERATOR_EVENTS_RABBITMQ_SERVER_URL",
        ] {
            let arg = command
                .get_arguments()
                .find(|a| a.get_env().and_then(|v| v.to_str()) == Some(var))
                .unwrap_or_else(|| panic!("{var} is missing"));
            assert!(arg.is_hide_env_values_set(), "{var} shows its value");
        }
    }

    #[test]
    fn the_hookdeck_ingest_url_is_an_http_url() {
        assert_eq!(
            parse(&[]).delivery.hookdeck_ingest_url,
            "https://hkdk.events"
        );
        let s = parse(&[
            "--destinations-hookdeck-ingest-url",
            "http://127.0.0.1:9000/",
        ]);
        assert_eq!(s.delivery.hookdeck_ingest_url, "http://127.0.0.1:9000");
        let err = error(&["--destinations-hookdeck-ingest-url", "hkdk.events"]);
        assert!(err.contains("DESTINATIONS_HOOKDECK_INGEST_URL"), "{err}");
    }
}
