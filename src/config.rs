//! Settings, read once from the environment at start-up and validated there,
//! so a typo is a start-up error that names the variable, not a surprise at
//! the first delivery. Variable names follow Outpost's where Outpost has one
//! (DESIGN.md §7); they are part of the contract.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::domain::signature::WebhookMode;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettingsError {
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub api: ApiSettings,
    pub topics: TopicSettings,
    pub delivery: DeliverySettings,
    pub retention: RetentionSettings,
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
    /// `ALERT_CONSECUTIVE_FAILURE_COUNT`: auto-disable threshold, 0 = never. Default 20.
    pub disable_after_failures: u32,
    /// `DESTINATIONS_WEBHOOK_MODE`: `default` or `standard`.
    pub webhook_mode: WebhookMode,
    /// `DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS`: CIDRs exempt from the SSRF
    /// guard, comma separated (parsed by the delivery module).
    pub allowed_networks: Vec<String>,
    /// `DELIVERY_CONCURRENCY`: in-flight sends per process. Default 64.
    pub concurrency: usize,
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
}

#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// `LOG_RETENTION_DAYS`: how long events and attempts are kept. Default 7.
    pub days: u32,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, SettingsError> {
        Settings::from_vars(std::env::vars().collect())
    }

    /// Reads settings from a map of variables (tests pass their own).
    pub fn from_vars(vars: HashMap<String, String>) -> Result<Settings, SettingsError> {
        let env = Env(vars);
        let database = DatabaseSettings {
            url: env.get("DATABASE_URL").or_else(|| env.get("POSTGRES_URL")),
            data_dir: env
                .get("OUTBOUND_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("./.outbound")),
            pool_size: env.parse_in("DATABASE_POOL_SIZE", 16, 1..=1000)?,
        };
        let api = ApiSettings {
            host: env.get("API_HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port: env.parse_in("API_PORT", 3333u16, 0..=u16::MAX)?,
            api_key: env.get("API_KEY"),
            jwt_secret: env.get("API_JWT_SECRET"),
            aes_secret: env.get("AES_ENCRYPTION_SECRET"),
            public_url: env.get("API_PUBLIC_URL"),
            max_event_bytes: env.parse_in(
                "MAX_EVENT_SIZE_BYTES",
                1024 * 1024usize,
                1..=64 * 1024 * 1024,
            )?,
            max_destinations_per_tenant: env.parse_in(
                "MAX_DESTINATIONS_PER_TENANT",
                20i64,
                1..=100_000,
            )?,
        };
        let topics = TopicSettings {
            topics: env.list("TOPICS"),
            catalog: env.get("TOPICS_CATALOG").map(PathBuf::from),
            validate_schema: match env.get("TOPICS_VALIDATE_SCHEMA").as_deref() {
                None | Some("false") | Some("0") => false,
                Some("true") | Some("1") => true,
                Some(other) => {
                    return Err(SettingsError::Invalid {
                        var: "TOPICS_VALIDATE_SCHEMA",
                        value: other.into(),
                        reason: "expected true or false".into(),
                    })
                }
            },
        };
        let webhook_mode = match env.get("DESTINATIONS_WEBHOOK_MODE").as_deref() {
            None | Some("default") => WebhookMode::Default,
            Some("standard") => WebhookMode::Standard,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    var: "DESTINATIONS_WEBHOOK_MODE",
                    value: other.into(),
                    reason: "expected `default` or `standard`".into(),
                })
            }
        };
        let retry_schedule = match env.list("RETRY_SCHEDULE") {
            None => None,
            Some(items) => Some(
                items
                    .iter()
                    .map(|s| {
                        s.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                            SettingsError::Invalid {
                                var: "RETRY_SCHEDULE",
                                value: env.get("RETRY_SCHEDULE").unwrap_or_default(),
                                reason: format!("{s:?} is not a whole number of seconds"),
                            }
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let delivery = DeliverySettings {
            retry_interval: Duration::from_secs(env.parse_in(
                "RETRY_INTERVAL_SECONDS",
                30u64,
                1..=86_400,
            )?),
            max_retry_limit: env.parse_in("MAX_RETRY_LIMIT", 10u32, 0..=100)?,
            retry_schedule,
            timeout: Duration::from_secs(env.parse_in(
                "DELIVERY_TIMEOUT_SECONDS",
                5u64,
                1..=300,
            )?),
            disable_after_failures: env.parse_in(
                "ALERT_CONSECUTIVE_FAILURE_COUNT",
                20u32,
                0..=1_000_000,
            )?,
            webhook_mode,
            allowed_networks: env
                .list("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS")
                .unwrap_or_default(),
            concurrency: env.parse_in("DELIVERY_CONCURRENCY", 64usize, 1..=10_000)?,
            worker_threads: env.parse_in("WORKER_THREADS", 1usize, 1..=1024)?,
            lease: Duration::ZERO,
            signature_content_template: env
                .get("DESTINATIONS_WEBHOOK_SIGNATURE_CONTENT_TEMPLATE")
                .unwrap_or_else(|| "{body}".into()),
            signature_header_template: env
                .get("DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_TEMPLATE")
                .unwrap_or_else(|| "v0={signatures}".into()),
            header_prefix: env
                .get("DESTINATIONS_WEBHOOK_HEADER_PREFIX")
                .unwrap_or_else(|| "x-outpost-".into())
                .to_ascii_lowercase(),
        };
        let default_lease = (delivery.timeout * 3)
            .max(Duration::from_secs(30))
            .as_secs();
        let lease_secs = env.parse_in("DELIVERY_LEASE_SECONDS", default_lease, 1..=86_400)?;
        if Duration::from_secs(lease_secs) <= delivery.timeout {
            return Err(SettingsError::Invalid {
                var: "DELIVERY_LEASE_SECONDS",
                value: lease_secs.to_string(),
                reason: "must be longer than DELIVERY_TIMEOUT_SECONDS".into(),
            });
        }
        let delivery = DeliverySettings {
            lease: Duration::from_secs(lease_secs),
            ..delivery
        };
        let retention = RetentionSettings {
            days: env.parse_in("LOG_RETENTION_DAYS", 7u32, 1..=3650)?,
        };
        Ok(Settings {
            database,
            api,
            topics,
            delivery,
            retention,
        })
    }
}

struct Env(HashMap<String, String>);

impl Env {
    /// A variable's value; set-but-empty counts as unset.
    fn get(&self, var: &str) -> Option<String> {
        self.0
            .get(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn list(&self, var: &str) -> Option<Vec<String>> {
        self.get(var).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    fn parse_in<T>(
        &self,
        var: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, SettingsError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        let Some(raw) = self.get(var) else {
            return Ok(default);
        };
        let invalid = |reason: String| SettingsError::Invalid {
            var,
            value: raw.clone(),
            reason,
        };
        let value: T = raw
            .parse()
            .map_err(|_| invalid("expected a whole number".into()))?;
        if !range.contains(&value) {
            return Err(invalid(format!(
                "must be between {} and {}",
                range.start(),
                range.end()
            )));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_design() {
        let s = Settings::from_vars(HashMap::new()).unwrap();
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
    }

    #[test]
    fn postgres_url_is_an_alias() {
        let s = Settings::from_vars(vars(&[("POSTGRES_URL", "postgres://x/y")])).unwrap();
        assert_eq!(s.database.url.as_deref(), Some("postgres://x/y"));
        let s = Settings::from_vars(vars(&[
            ("POSTGRES_URL", "postgres://x/y"),
            ("DATABASE_URL", "postgres://a/b"),
        ]))
        .unwrap();
        assert_eq!(s.database.url.as_deref(), Some("postgres://a/b"));
    }

    #[test]
    fn lists_and_schedules_parse() {
        let s = Settings::from_vars(vars(&[
            ("TOPICS", "user.created, user.updated,,"),
            ("RETRY_SCHEDULE", "5,60,600"),
            ("DESTINATIONS_WEBHOOK_MODE", "standard"),
        ]))
        .unwrap();
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
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Settings::from_vars(vars(&[("API_PORT", "http")])).unwrap_err();
        assert!(err.to_string().contains("API_PORT"), "{err}");
        let err = Settings::from_vars(vars(&[("LOG_RETENTION_DAYS", "0")])).unwrap_err();
        assert!(err.to_string().contains("between 1 and 3650"), "{err}");
        let err = Settings::from_vars(vars(&[("RETRY_SCHEDULE", "5,soon")])).unwrap_err();
        assert!(err.to_string().contains("\"soon\""), "{err}");
        let err = Settings::from_vars(vars(&[("DESTINATIONS_WEBHOOK_MODE", "svix")])).unwrap_err();
        assert!(
            err.to_string().contains("DESTINATIONS_WEBHOOK_MODE"),
            "{err}"
        );
    }
}
