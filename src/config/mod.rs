//! Settings, read once at start-up from environment variables (each also a
//! command-line flag) and validated there, so a typo is a start-up error that
//! names the variable, not a surprise at the first delivery. Variable names
//! follow Outpost's where Outpost has one (DESIGN.md §7); they are part of
//! the contract.
//!
//! clap reads them: [`SettingsArgs`] (in `args.rs`) is the flat list of
//! variables as the binary's global arguments, with the value parsers of
//! `parse.rs`, and [`SettingsArgs::into_settings`] turns it into the nested
//! [`Settings`] below, which is what the rest of the crate uses.

mod args;
mod operator_sink;
mod parse;

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::signature::WebhookMode;

pub use args::SettingsArgs;
pub use operator_sink::QueueSink;

#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub api: ApiSettings,
    pub topics: TopicSettings,
    pub delivery: DeliverySettings,
    pub retention: RetentionSettings,
    pub portal: PortalSettings,
    pub operator_events: OperatorEventSettings,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL` (alias `POSTGRES_URL`). None: run the private cluster.
    pub url: Option<String>,
    /// `OUTBOUND_DATA_DIR`: folder of the private cluster and generated
    /// secrets. Default `./.outbound`.
    pub data_dir: PathBuf,
    /// `DATABASE_POOL_SIZE`: API and maintenance connections per process
    /// (a delivery worker has its own few). Default 16.
    pub pool_size: usize,
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `API_HOST`: interface to bind. Default 127.0.0.1.
    pub host: String,
    /// `API_PORT`: HTTP port of the API and portal. Default 3333.
    pub port: u16,
    /// `METRICS_PORT`: a port of its own for `GET /metrics`, without
    /// authentication (for a scraper on a private network, and for
    /// `outbound worker`). Default: unset, only on the API's port.
    pub metrics_port: Option<u16>,
    /// `API_KEY`: the operator's bearer token. Required outside dev mode.
    pub api_key: Option<String>,
    /// `API_JWT_SECRET`: HS256 key for tenant tokens. Required outside dev mode.
    pub jwt_secret: Option<String>,
    /// `AES_ENCRYPTION_SECRET`: key for credentials at rest. Required outside dev mode.
    pub aes_secret: Option<String>,
    /// `API_PUBLIC_URL`: base URL of the API and portal in generated links.
    /// Default: taken from the request's Host header.
    pub public_url: Option<String>,
    /// `MAX_EVENT_SIZE_BYTES`: largest accepted event data. Default 1 MiB.
    pub max_event_bytes: usize,
    /// `API_HEADER_READ_TIMEOUT_SECONDS`: how long a client has to send a
    /// request's headers; an idle keep-alive connection is closed after as
    /// long. Default 10 s.
    pub header_read_timeout: std::time::Duration,
    /// `API_BODY_READ_TIMEOUT_SECONDS`: how long a client has to send a
    /// request's body (408 after). Default 30 s.
    pub body_read_timeout: std::time::Duration,
    /// `API_MAX_CONNECTIONS`: open API connections at once; more wait in the
    /// accept queue. Default 1024.
    pub max_connections: usize,
    /// `MAX_DESTINATIONS_PER_TENANT`. Default 20.
    pub max_destinations_per_tenant: i64,
}

#[derive(Debug, Clone)]
pub struct TopicSettings {
    /// `TOPICS`: allowed topics, comma separated. None: any topic.
    pub topics: Option<Vec<String>>,
    /// `TOPICS_CATALOG`: path of the topic catalog file (YAML or JSON).
    pub catalog: Option<PathBuf>,
    /// `TOPICS_VALIDATE_SCHEMA`: validate published data against the
    /// topic's schema in the catalog. Default false.
    pub validate_schema: bool,
}

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// `RETRY_INTERVAL_SECONDS`: base of the exponential backoff. Default 30 s.
    pub retry_interval: Duration,
    /// `MAX_RETRY_LIMIT`: retries after the first attempt. Default 10.
    pub max_retry_limit: u32,
    /// `RETRY_SCHEDULE`: explicit delays in seconds, e.g. `5,60,600`;
    /// replaces both settings above.
    pub retry_schedule: Option<Vec<Duration>>,
    /// `DELIVERY_TIMEOUT_SECONDS`: per-attempt timeout. Default 5 s.
    pub timeout: Duration,
    /// `ALERT_CONSECUTIVE_FAILURE_COUNT`: auto-disable threshold, 0 = never.
    /// Failures known within a second of each other count once. Default 20.
    pub disable_after_failures: u32,
    /// `ALERT_AUTO_DISABLE_MIN_FAILING_SECONDS`: how long a destination must
    /// have been failing, as well as reach the threshold, to be disabled.
    /// Default 600 s.
    pub disable_min_failing: Duration,
    /// `DESTINATIONS_WEBHOOK_MODE`: `default` or `standard`.
    pub webhook_mode: WebhookMode,
    /// `DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS`: CIDRs exempt from the SSRF
    /// guard, comma separated (parsed by the delivery module).
    pub allowed_networks: Vec<String>,
    /// `DELIVERY_CONCURRENCY`: in-flight sends per process. Default 64.
    pub concurrency: usize,
    /// `DELIVERY_DESTINATION_CONCURRENCY`: the most deliveries one process
    /// holds for one slow or not yet measured destination. Default 16.
    pub destination_concurrency: usize,
    /// `DELIVERY_CIRCUIT_BREAKER_FAILURES`: unanswered attempts in a row that
    /// open a destination's circuit, 0 = no breaker. Default 5.
    pub circuit_breaker_failures: u32,
    /// `DELIVERY_CIRCUIT_BREAKER_COOLDOWN_SECONDS`: how long a circuit first
    /// stays open; doubles while the probes get no answer, up to 8×.
    /// Default 1 s.
    pub circuit_breaker_cooldown: Duration,
    /// `WORKER_THREADS`: threads of the async runtime of `outbound worker`.
    /// Default 1 (scale out with more worker processes).
    pub worker_threads: usize,
    /// `DELIVERY_LEASE_SECONDS`: how long a claimed delivery is exclusive to
    /// its worker. Default max(30, 3 × timeout).
    pub lease: Duration,
    /// `DESTINATIONS_WEBHOOK_SIGNATURE_CONTENT_TEMPLATE`: what is signed;
    /// placeholders `{body}`, `{timestamp}`, `{event_id}`, `{topic}`. Default `{body}`.
    pub signature_content_template: String,
    /// `DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_TEMPLATE`: the signature header's
    /// value; `{signatures}` is the comma-joined list. Default `v0={signatures}`.
    pub signature_header_template: String,
    /// `DESTINATIONS_WEBHOOK_HEADER_PREFIX`: prefix of identity and metadata
    /// headers. Default `x-outpost-`.
    pub header_prefix: String,
    /// `DESTINATIONS_HOOKDECK_INGEST_URL`: base of the URLs Hookdeck
    /// destinations are sent to (`<base>/<source id>`), no trailing `/`.
    /// Default `https://hkdk.events`.
    pub hookdeck_ingest_url: String,
    /// Where the AWS types send, and how Kinesis records are shaped.
    pub aws: AwsSettings,
}

/// The portal's run-time settings, with Outpost's names. URLs may be
/// absolute (http/https) or paths on this server.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PortalSettings {
    /// `PORTAL_REFERER_URL`: where "back" and an expired session lead.
    pub referer_url: Option<String>,
    /// `PORTAL_REFRESH_URL`: where a user gets a fresh session.
    pub refresh_url: Option<String>,
    /// `PORTAL_FAVICON_URL`.
    pub favicon_url: Option<String>,
    /// `PORTAL_BRAND_COLOR`: `#rgb` or `#rrggbb`, the accent of buttons and links.
    pub brand_color: Option<String>,
    /// `PORTAL_LOGO` / `PORTAL_LOGO_DARK`: logo URLs for the light and dark themes.
    pub logo: Option<String>,
    pub logo_dark: Option<String>,
    /// `PORTAL_ORGANIZATION_NAME`: shown in the header and the page title.
    pub organization_name: Option<String>,
    /// `PORTAL_FORCE_THEME`: `light` or `dark`; unset: the user's choice
    /// (`?theme=` or the system's).
    pub force_theme: Option<String>,
    /// `PORTAL_DISABLE_OUTPOST_BRANDING`: hide "Powered by outbound". Default false.
    pub disable_branding: bool,
    /// `PORTAL_ENABLE_DESTINATION_FILTER`: show the payload filter editor.
    /// Default true.
    pub enable_destination_filter: bool,
    /// `PORTAL_ENABLE_WEBHOOK_CUSTOM_HEADERS`: show custom headers on
    /// webhook destinations. Default true.
    pub enable_webhook_custom_headers: bool,
}

/// The AWS destination types' deployment settings. Endpoint overrides use
/// the AWS SDKs' own variable names, so a deployment already pointed at an
/// emulator (moto, LocalStack) needs nothing new. Each is a base URL
/// (`scheme://host[:port]`), checked at start-up.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// `AWS_ENDPOINT_URL`: every AWS service. Default: AWS itself.
    pub endpoint: Option<String>,
    /// `AWS_ENDPOINT_URL_SQS`: SQS, instead of each queue URL's host.
    pub sqs_endpoint: Option<String>,
    /// `AWS_ENDPOINT_URL_S3`: S3, addressed path-style
    /// (`<endpoint>/<bucket>/<key>`), as emulators need.
    pub s3_endpoint: Option<String>,
    /// `AWS_ENDPOINT_URL_KINESIS`: Kinesis, unless a destination sets its
    /// own `endpoint`.
    pub kinesis_endpoint: Option<String>,
    /// `AWS_REGION`: the region of an SQS queue whose URL names none (an
    /// emulator's queue URL). Default `us-east-1`.
    pub region: String,
    /// `DESTINATIONS_AWS_KINESIS_METADATA_IN_PAYLOAD`: a Kinesis record is
    /// `{"data": …, "metadata": {…}}` (true, Outpost's default) or the
    /// event's data alone (false).
    pub kinesis_metadata_in_payload: bool,
}

#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// `LOG_RETENTION_DAYS`: how long events and attempts are kept. Default 7.
    pub days: u32,
}

/// Operator events (Outpost's names): alerts and subscription changes sent
/// to the operator's sink (HTTP, or a queue) through an outbox
/// (`delivery::operator_events`).
#[derive(Debug, Clone)]
pub struct OperatorEventSettings {
    /// `OPERATOR_EVENTS_TOPICS`: which topics are emitted; `*` all.
    /// Default: none (off).
    pub topics: crate::domain::operator_event::OperatorTopics,
    /// `OPERATOR_EVENTS_HTTP_URL`: where they are POSTed. Unset: emitted
    /// events wait in the outbox until a sink is configured.
    pub http_url: Option<String>,
    /// `OPERATOR_EVENTS_HTTP_SIGNING_SECRET`: when set, each POST carries
    /// `X-Outpost-Signature: v0=<hex HMAC-SHA256(secret, body)>`.
    pub signing_secret: Option<String>,
    /// The `OPERATOR_EVENTS_AWS_SQS_*`, `_GCP_PUBSUB_*` or `_RABBITMQ_*`
    /// queue the events go to instead of the HTTP sink (never both: the
    /// settings refuse a second sink).
    pub queue: Option<QueueSink>,
    /// `DEPLOYMENT_ID`: carried by every operator event as `deployment_id`;
    /// unset: the key is left out.
    pub deployment_id: Option<String>,
    /// `ALERT_AUTO_DISABLE_DESTINATION`: disable a destination when its
    /// consecutive failures reach `ALERT_CONSECUTIVE_FAILURE_COUNT`.
    /// Default true; false keeps the alerts and never disables.
    pub auto_disable: bool,
    /// `ALERT_EXHAUSTED_RETRIES_WINDOW_SECONDS`: at most one
    /// `alert.attempt.exhausted_retries` per destination this often.
    /// Default 3600 s.
    pub exhausted_retries_window: Duration,
}

impl OperatorEventSettings {
    /// Whether the events have somewhere to go.
    pub fn has_sink(&self) -> bool {
        self.http_url.is_some() || self.queue.is_some()
    }
}
