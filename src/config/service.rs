//! The service's own settings: the database, the API, the topics, the
//! retention.

use std::path::PathBuf;
use std::time::Duration;

use clap::ArgAction;

use crate::domain::setting::{boolean, list, seconds, text, whole};

#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
pub struct DatabaseSettings {
    /// Postgres to use; unset: run the private cluster
    #[arg(env = "DATABASE_URL", hide_env_values = true, value_parser = text)]
    pub url: Option<String>,
    /// Alias of DATABASE_URL (Outpost's name); DATABASE_URL wins
    #[arg(env = "POSTGRES_URL", hide_env_values = true, value_parser = text)]
    pub postgres_url: Option<String>,
    /// Folder of the private cluster and generated secrets
    #[arg(env = "OUTBOUND_DATA_DIR", default_value = "./.outbound", value_parser = path)]
    pub data_dir: PathBuf,
    /// API and maintenance connections per process (a worker has its own few)
    #[arg(env = "DATABASE_POOL_SIZE", default_value = "16")]
    #[arg(value_parser = whole(1, 1000usize))]
    pub pool_size: usize,
}

fn path(raw: &str) -> Result<PathBuf, String> {
    text(raw).map(PathBuf::from)
}

#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
pub struct ApiSettings {
    /// Interface the API and portal bind to
    #[arg(env = "API_HOST", default_value = "127.0.0.1", value_parser = text)]
    pub host: String,
    /// HTTP port of the API and portal
    #[arg(env = "API_PORT", default_value = "3333", value_parser = whole(0, u16::MAX))]
    pub port: u16,
    /// Port serving GET /metrics without authentication (on API_HOST);
    /// unset: only on the API's port, for the operator
    #[arg(env = "METRICS_PORT", value_parser = whole(0, u16::MAX))]
    pub metrics_port: Option<u16>,
    /// The operator's bearer token; required outside dev mode
    #[arg(env = "API_KEY", hide_env_values = true, value_parser = text)]
    pub api_key: Option<String>,
    /// HS256 key for tenant tokens; required outside dev mode
    #[arg(env = "API_JWT_SECRET", hide_env_values = true, value_parser = text)]
    pub jwt_secret: Option<String>,
    /// Key for credentials at rest; required outside dev mode
    #[arg(env = "AES_ENCRYPTION_SECRET", hide_env_values = true, value_parser = text)]
    pub aes_secret: Option<String>,
    /// Base URL of the API and portal in generated links; unset: the
    /// request's Host header
    #[arg(env = "API_PUBLIC_URL", value_parser = text)]
    pub public_url: Option<String>,
    /// Largest accepted event data, in bytes
    #[arg(env = "MAX_EVENT_SIZE_BYTES", default_value = "1048576")]
    #[arg(value_parser = whole(1, 64 * 1024 * 1024usize))]
    pub max_event_bytes: usize,
    /// Seconds a client has to send a request's headers (an idle keep-alive
    /// connection is closed after as long)
    #[arg(env = "API_HEADER_READ_TIMEOUT_SECONDS", default_value = "10")]
    #[arg(value_parser = seconds(1, 3600))]
    pub header_read_timeout: Duration,
    /// Seconds a client has to send a request's body
    #[arg(env = "API_BODY_READ_TIMEOUT_SECONDS", default_value = "30")]
    #[arg(value_parser = seconds(1, 3600))]
    pub body_read_timeout: Duration,
    /// Open connections to the API at once; more wait to be accepted
    #[arg(env = "API_MAX_CONNECTIONS", default_value = "1024")]
    #[arg(value_parser = whole(1, 1_000_000usize))]
    pub max_connections: usize,
    /// Destinations per tenant
    #[arg(env = "MAX_DESTINATIONS_PER_TENANT", default_value = "20")]
    #[arg(value_parser = whole(1, 100_000i64))]
    pub max_destinations_per_tenant: i64,
}

#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
pub struct TopicSettings {
    /// Allowed topics, comma separated; unset: any topic
    #[arg(env = "TOPICS", value_parser = list)]
    pub topics: Option<::std::vec::Vec<String>>,
    /// Let destinations subscribe to patterns such as `user.*` (`*`: any
    /// characters): true, false, 1 or 0
    #[arg(env = "TOPICS_ALLOW_WILDCARDS", default_value = "false")]
    #[arg(action = ArgAction::Set, value_parser = boolean)]
    pub allow_wildcards: bool,
    /// Topic catalog file (YAML or JSON)
    #[arg(env = "TOPICS_CATALOG", value_parser = path)]
    pub catalog: Option<PathBuf>,
    /// Validate published data against the topic's schema in the catalog:
    /// true, false, 1 or 0
    #[arg(env = "TOPICS_VALIDATE_SCHEMA", default_value = "false")]
    #[arg(action = ArgAction::Set, value_parser = boolean)]
    pub validate_schema: bool,
}

#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
pub struct RetentionSettings {
    /// How long events and attempts are kept, in days
    #[arg(env = "LOG_RETENTION_DAYS", default_value = "7", value_parser = whole(1, 3650u32))]
    pub days: u32,
}
