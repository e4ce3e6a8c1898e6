//! Which sink the operator events go to: the rules that span several
//! `OPERATOR_EVENTS_*` variables. One sink at most; a queue sink needs its
//! companion settings; each error names the variables concerned, in the
//! words of clap's own errors.

use std::fmt;

use serde_json::json;

use crate::destinations::aws::config::parse_queue_url;
use crate::destinations::gcp_pubsub::key::ServiceAccountKey;
use crate::destinations::gcp_pubsub::target::PubsubTarget;
use crate::destinations::rabbitmq::server::AmqpServer;

/// A queue the operator events go to instead of the HTTP sink (Outpost's
/// `OPERATOR_EVENTS_AWS_SQS_*`, `_GCP_PUBSUB_*`, `_RABBITMQ_*`). The
/// delivery side sends to it through the destination type's own sender.
#[derive(Clone, PartialEq, Eq)]
pub enum QueueSink {
    AwsSqs {
        queue_url: String,
        access_key_id: String,
        secret_access_key: String,
        /// `OPERATOR_EVENTS_AWS_SQS_REGION`; None: the region the queue URL
        /// names, else `us-east-1` (an emulator behind an endpoint).
        region: Option<String>,
        /// `OPERATOR_EVENTS_AWS_SQS_ENDPOINT`: replaces the queue URL's host.
        endpoint: Option<String>,
    },
    GcpPubsub {
        project_id: String,
        topic_id: String,
        /// The service-account key JSON; optional only with an endpoint
        /// (an emulator takes no token).
        credentials: Option<String>,
        /// `OPERATOR_EVENTS_GCP_PUBSUB_ENDPOINT`, as the destination's
        /// `config.endpoint`.
        endpoint: Option<String>,
    },
    Rabbitmq {
        /// `host:port[/vhost]`, as the destination's `config.server_url`.
        server_url: String,
        tls: bool,
        username: String,
        password: String,
        exchange: String,
    },
}

/// Without the secrets: settings are printed in debug output.
impl fmt::Debug for QueueSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueSink::AwsSqs {
                queue_url,
                region,
                endpoint,
                ..
            } => f
                .debug_struct("AwsSqs")
                .field("queue_url", queue_url)
                .field("region", region)
                .field("endpoint", endpoint)
                .finish_non_exhaustive(),
            QueueSink::GcpPubsub {
                project_id,
                topic_id,
                endpoint,
                ..
            } => f
                .debug_struct("GcpPubsub")
                .field("project_id", project_id)
                .field("topic_id", topic_id)
                .field("endpoint", endpoint)
                .finish_non_exhaustive(),
            QueueSink::Rabbitmq {
                server_url,
                tls,
                exchange,
                ..
            } => f
                .debug_struct("Rabbitmq")
                .field("server_url", server_url)
                .field("tls", tls)
                .field("exchange", exchange)
                .finish_non_exhaustive(),
        }
    }
}

impl QueueSink {
    /// The destination type whose sender delivers to this sink, and the
    /// destination's `config` and `credentials` in that type's field names
    /// (reference/outpost/destination-types/*.json).
    pub fn destination(&self) -> (&'static str, serde_json::Value, serde_json::Value) {
        match self {
            QueueSink::AwsSqs {
                queue_url,
                access_key_id,
                secret_access_key,
                ..
            } => (
                "aws_sqs",
                json!({ "queue_url": queue_url }),
                json!({ "key": access_key_id, "secret": secret_access_key }),
            ),
            QueueSink::GcpPubsub {
                project_id,
                topic_id,
                credentials,
                endpoint,
            } => {
                let mut config = json!({ "project_id": project_id, "topic": topic_id });
                if let Some(endpoint) = endpoint {
                    config["endpoint"] = json!(endpoint);
                }
                (
                    "gcp_pubsub",
                    config,
                    json!({ "service_account_json": credentials.clone().unwrap_or_default() }),
                )
            }
            QueueSink::Rabbitmq {
                server_url,
                tls,
                username,
                password,
                exchange,
            } => (
                "rabbitmq",
                json!({ "server_url": server_url, "exchange": exchange, "tls": if *tls { "true" } else { "false" } }),
                json!({ "username": username, "password": password }),
            ),
        }
    }

    /// Where it is, for a log line: never a credential.
    pub fn describe(&self) -> String {
        match self {
            QueueSink::AwsSqs { queue_url, .. } => format!("SQS queue {queue_url}"),
            QueueSink::GcpPubsub {
                project_id,
                topic_id,
                ..
            } => format!("Pub/Sub topic projects/{project_id}/topics/{topic_id}"),
            QueueSink::Rabbitmq {
                server_url,
                exchange,
                ..
            } => format!("RabbitMQ exchange {exchange:?} on {server_url}"),
        }
    }
}

/// A variable's name and whether it is set.
type Flag = (&'static str, bool);

/// The sink variables as given (blank already counts as unset).
#[derive(Default)]
pub(super) struct SinkVars {
    pub http_url: Option<String>,
    pub sqs_queue_url: Option<String>,
    pub sqs_access_key_id: Option<String>,
    pub sqs_secret_access_key: Option<String>,
    pub sqs_region: Option<String>,
    pub sqs_endpoint: Option<String>,
    pub pubsub_project_id: Option<String>,
    pub pubsub_topic_id: Option<String>,
    pub pubsub_credentials: Option<String>,
    pub pubsub_endpoint: Option<String>,
    pub rabbitmq_server_url: Option<String>,
    pub rabbitmq_exchange: Option<String>,
}

/// The queue sink, if one is configured, after the rules between the
/// variables. `topics`: some operator topic is on, so a sink is needed.
pub(super) fn resolve(v: SinkVars, topics: bool) -> Result<Option<QueueSink>, String> {
    let primaries = [
        ("OPERATOR_EVENTS_HTTP_URL", v.http_url.is_some()),
        (
            "OPERATOR_EVENTS_AWS_SQS_QUEUE_URL",
            v.sqs_queue_url.is_some(),
        ),
        (
            "OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID",
            v.pubsub_project_id.is_some(),
        ),
        (
            "OPERATOR_EVENTS_RABBITMQ_SERVER_URL",
            v.rabbitmq_server_url.is_some(),
        ),
    ];
    let set: Vec<&str> = primaries
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect();
    if set.len() > 1 {
        let verb = if set.len() == 2 { "both" } else { "all" };
        return Err(format!(
            "{} are {verb} set: operator events go to one sink; keep one",
            set.join(" and ")
        ));
    }
    if topics && set.is_empty() {
        return Err(
            "OPERATOR_EVENTS_TOPICS is set but OPERATOR_EVENTS_HTTP_URL is not \
                    (nor OPERATOR_EVENTS_AWS_SQS_QUEUE_URL, OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID \
                    or OPERATOR_EVENTS_RABBITMQ_SERVER_URL): the operator events would have \
                    nowhere to go"
                .into(),
        );
    }
    // A companion without its sink is a mistake (a typo in the other
    // variable's name, usually), not something to ignore.
    let sqs_companions = [
        (
            "OPERATOR_EVENTS_AWS_SQS_ACCESS_KEY_ID",
            v.sqs_access_key_id.is_some(),
        ),
        (
            "OPERATOR_EVENTS_AWS_SQS_SECRET_ACCESS_KEY",
            v.sqs_secret_access_key.is_some(),
        ),
        ("OPERATOR_EVENTS_AWS_SQS_REGION", v.sqs_region.is_some()),
        ("OPERATOR_EVENTS_AWS_SQS_ENDPOINT", v.sqs_endpoint.is_some()),
    ];
    let pubsub_companions = [
        (
            "OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID",
            v.pubsub_topic_id.is_some(),
        ),
        (
            "OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS",
            v.pubsub_credentials.is_some(),
        ),
        (
            "OPERATOR_EVENTS_GCP_PUBSUB_ENDPOINT",
            v.pubsub_endpoint.is_some(),
        ),
    ];
    let rabbitmq_companions = [(
        "OPERATOR_EVENTS_RABBITMQ_EXCHANGE",
        v.rabbitmq_exchange.is_some(),
    )];
    let companions: [(&str, bool, &[Flag]); 3] = [
        (
            "OPERATOR_EVENTS_AWS_SQS_QUEUE_URL",
            v.sqs_queue_url.is_some(),
            &sqs_companions,
        ),
        (
            "OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID",
            v.pubsub_project_id.is_some(),
            &pubsub_companions,
        ),
        (
            "OPERATOR_EVENTS_RABBITMQ_SERVER_URL",
            v.rabbitmq_server_url.is_some(),
            &rabbitmq_companions,
        ),
    ];
    for (primary, on, others) in companions {
        if let Some((name, _)) = others.iter().find(|(_, set)| *set).filter(|_| !on) {
            return Err(format!(
                "{name} is set but {primary} is not: that sink is not configured"
            ));
        }
    }
    if let Some(queue_url) = v.sqs_queue_url {
        return sqs(
            queue_url,
            v.sqs_access_key_id,
            v.sqs_secret_access_key,
            v.sqs_region,
            v.sqs_endpoint,
        )
        .map(Some);
    }
    if let Some(project_id) = v.pubsub_project_id {
        return pubsub(
            project_id,
            v.pubsub_topic_id,
            v.pubsub_credentials,
            v.pubsub_endpoint,
        )
        .map(Some);
    }
    if let Some(url) = v.rabbitmq_server_url {
        return rabbitmq(&url, v.rabbitmq_exchange).map(Some);
    }
    Ok(None)
}

fn required(value: Option<String>, name: &str, sink: &str) -> Result<String, String> {
    value.ok_or_else(|| format!("{sink} is set but {name} is not: the sink needs it"))
}

fn sqs(
    queue_url: String,
    key: Option<String>,
    secret: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
) -> Result<QueueSink, String> {
    const SINK: &str = "OPERATOR_EVENTS_AWS_SQS_QUEUE_URL";
    let parsed = parse_queue_url(&queue_url)
        .map_err(|e| format!("invalid value for {SINK}: the queue URL {e}"))?;
    let access_key_id = required(key, "OPERATOR_EVENTS_AWS_SQS_ACCESS_KEY_ID", SINK)?;
    let secret_access_key = required(secret, "OPERATOR_EVENTS_AWS_SQS_SECRET_ACCESS_KEY", SINK)?;
    // A request is signed for a region: the setting, the one an AWS queue
    // URL names, or (behind an endpoint, an emulator) us-east-1. Without
    // any of them the guess would be silent and likely wrong.
    if region.is_none() && parsed.region.is_none() && endpoint.is_none() {
        return Err(format!(
            "{SINK} names no region and OPERATOR_EVENTS_AWS_SQS_REGION is not set \
             (nor OPERATOR_EVENTS_AWS_SQS_ENDPOINT): the requests could not be signed"
        ));
    }
    Ok(QueueSink::AwsSqs {
        queue_url,
        access_key_id,
        secret_access_key,
        region,
        endpoint,
    })
}

fn pubsub(
    project_id: String,
    topic_id: Option<String>,
    credentials: Option<String>,
    endpoint: Option<String>,
) -> Result<QueueSink, String> {
    const SINK: &str = "OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID";
    let topic_id = required(topic_id, "OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID", SINK)?;
    let variable = |field: &str| match field {
        "config.project_id" => SINK,
        "config.topic" => "OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID",
        _ => "OPERATOR_EVENTS_GCP_PUBSUB_ENDPOINT",
    };
    let mut config = json!({"project_id": project_id, "topic": topic_id});
    if let Some(e) = &endpoint {
        config["endpoint"] = json!(e);
    }
    if let Err(errors) = PubsubTarget::parse(&config) {
        let text: Vec<String> = errors
            .iter()
            .map(|e| format!("invalid value for {}: {}", variable(&e.field), e.message))
            .collect();
        return Err(text.join("; "));
    }
    match &credentials {
        Some(key) => {
            ServiceAccountKey::parse(key).map_err(|e| {
                format!("invalid value for OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS: {e}")
            })?;
        }
        // An emulator takes no token; Google's endpoint does.
        None if endpoint.is_some() => {}
        None => required(None, "OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS", SINK).map(drop)?,
    }
    Ok(QueueSink::GcpPubsub {
        project_id,
        topic_id,
        credentials,
        endpoint,
    })
}

/// `amqp[s]://user:pass@host[:port][/vhost]`, Outpost's form, split into
/// the rabbitmq destination's `server_url` (`host:port[/vhost]`), `tls`
/// and credentials.
fn rabbitmq(url: &str, exchange: Option<String>) -> Result<QueueSink, String> {
    const SINK: &str = "OPERATOR_EVENTS_RABBITMQ_SERVER_URL";
    // The message never repeats the URL: it carries the password.
    let invalid = |why: &str| format!("invalid value for {SINK}: {why}");
    let parsed = url::Url::parse(url).map_err(|e| {
        invalid(&format!(
            "expected amqp://user:password@host:port/vhost ({e})"
        ))
    })?;
    let tls = match parsed.scheme() {
        "amqp" => false,
        "amqps" => true,
        _ => return Err(invalid("expected an amqp:// or amqps:// URL")),
    };
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("the URL names no host"))?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| invalid("the user name or password is not UTF-8"))
    };
    let username = decode(parsed.username())?;
    let password = decode(parsed.password().unwrap_or_default())?;
    if username.is_empty() || parsed.password().is_none() {
        return Err(invalid(
            "the URL must carry the user and password (amqp://user:password@host:port/vhost)",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("the URL must not have a query or fragment"));
    }
    let mut server_url = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    // No path, or "/": the default virtual host, as AMQP clients read it.
    match parsed.path() {
        "" | "/" => {}
        path => server_url.push_str(path),
    }
    let exchange = required(exchange, "OPERATOR_EVENTS_RABBITMQ_EXCHANGE", SINK)?;
    let sink = QueueSink::Rabbitmq {
        server_url,
        tls,
        username,
        password,
        exchange,
    };
    let (_, config, _) = sink.destination();
    AmqpServer::from_config(&config).map_err(|e| {
        let variable = if e.field == "config.exchange" {
            "OPERATOR_EVENTS_RABBITMQ_EXCHANGE"
        } else {
            SINK
        };
        format!("invalid value for {variable}: {}", e.message)
    })?;
    Ok(sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqs_vars() -> SinkVars {
        SinkVars {
            sqs_queue_url: Some("https://sqs.eu-west-1.amazonaws.com/123456789012/ops".into()),
            sqs_access_key_id: Some("AKIAOPS".into()),
            sqs_secret_access_key: Some("ops-secret".into()),
            ..SinkVars::default()
        }
    }

    #[test]
    fn topics_need_a_sink_and_a_sink_alone_is_fine() {
        let err = resolve(SinkVars::default(), true).unwrap_err();
        assert!(err.contains("OPERATOR_EVENTS_HTTP_URL is not"), "{err}");
        assert_eq!(resolve(SinkVars::default(), false), Ok(None));
        let http = SinkVars {
            http_url: Some("http://ops.internal/".into()),
            ..SinkVars::default()
        };
        assert_eq!(resolve(http, true), Ok(None));
        assert!(matches!(
            resolve(sqs_vars(), true),
            Ok(Some(QueueSink::AwsSqs { .. }))
        ));
    }

    #[test]
    fn two_sinks_are_an_error_naming_both() {
        let vars = SinkVars {
            http_url: Some("http://ops.internal/".into()),
            ..sqs_vars()
        };
        let err = resolve(vars, true).unwrap_err();
        assert!(
            err.contains(
                "OPERATOR_EVENTS_HTTP_URL and OPERATOR_EVENTS_AWS_SQS_QUEUE_URL are both set"
            ),
            "{err}"
        );
        let vars = SinkVars {
            pubsub_project_id: Some("p".into()),
            rabbitmq_server_url: Some("amqp://u:p@h/".into()),
            ..SinkVars::default()
        };
        let err = resolve(vars, false).unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID")
                && err.contains("OPERATOR_EVENTS_RABBITMQ_SERVER_URL"),
            "{err}"
        );
    }

    #[test]
    fn sqs_needs_its_keys_and_a_region() {
        let err = resolve(
            SinkVars {
                sqs_secret_access_key: None,
                ..sqs_vars()
            },
            true,
        )
        .unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_AWS_SQS_SECRET_ACCESS_KEY is not"),
            "{err}"
        );
        let emulator = || SinkVars {
            sqs_queue_url: Some("http://127.0.0.1:5000/123456789012/ops".into()),
            ..sqs_vars()
        };
        let err = resolve(emulator(), true).unwrap_err();
        assert!(err.contains("OPERATOR_EVENTS_AWS_SQS_REGION"), "{err}");
        let with_region = SinkVars {
            sqs_region: Some("eu-west-1".into()),
            ..emulator()
        };
        assert!(resolve(with_region, true).is_ok());
        let with_endpoint = SinkVars {
            sqs_endpoint: Some("http://127.0.0.1:5000".into()),
            ..emulator()
        };
        assert!(resolve(with_endpoint, true).is_ok());
        let err = resolve(
            SinkVars {
                sqs_queue_url: Some("not a url".into()),
                ..sqs_vars()
            },
            true,
        )
        .unwrap_err();
        assert!(err.contains("OPERATOR_EVENTS_AWS_SQS_QUEUE_URL"), "{err}");
    }

    #[test]
    fn a_companion_without_its_sink_is_an_error() {
        let vars = SinkVars {
            http_url: Some("http://ops.internal/".into()),
            pubsub_topic_id: Some("ops".into()),
            ..SinkVars::default()
        };
        let err = resolve(vars, true).unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID is set but OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID is not"),
            "{err}"
        );
    }

    #[test]
    fn pubsub_needs_a_topic_and_a_key_unless_an_emulator() {
        let vars = |topic: Option<&str>, endpoint: Option<&str>| SinkVars {
            pubsub_project_id: Some("acme-ops".into()),
            pubsub_topic_id: topic.map(str::to_string),
            pubsub_endpoint: endpoint.map(str::to_string),
            ..SinkVars::default()
        };
        let err = resolve(vars(None, None), true).unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID is not"),
            "{err}"
        );
        let err = resolve(vars(Some("ops"), None), true).unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS is not"),
            "{err}"
        );
        let err = resolve(vars(Some("goog-ops"), None), true).unwrap_err();
        assert!(
            err.contains("invalid value for OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID"),
            "{err}"
        );
        let sink = resolve(vars(Some("ops"), Some("localhost:8085")), true)
            .unwrap()
            .unwrap();
        let (kind, config, _) = sink.destination();
        assert_eq!(kind, "gcp_pubsub");
        assert_eq!(
            config,
            json!({"project_id": "acme-ops", "topic": "ops", "endpoint": "localhost:8085"})
        );
        let bad_key = SinkVars {
            pubsub_credentials: Some("{}".into()),
            ..vars(Some("ops"), None)
        };
        let err = resolve(bad_key, true).unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS"),
            "{err}"
        );
    }

    #[test]
    fn the_rabbitmq_url_is_split_into_the_destination_config_and_credentials() {
        let vars = |url: &str, exchange: Option<&str>| SinkVars {
            rabbitmq_server_url: Some(url.into()),
            rabbitmq_exchange: exchange.map(str::to_string),
            ..SinkVars::default()
        };
        let sink = resolve(
            vars("amqp://ops:p%40ss@rabbit:5673/prod", Some("ops")),
            true,
        )
        .unwrap()
        .unwrap();
        let (kind, config, credentials) = sink.destination();
        assert_eq!(kind, "rabbitmq");
        assert_eq!(
            config,
            json!({"server_url": "rabbit:5673/prod", "exchange": "ops", "tls": "false"})
        );
        assert_eq!(credentials, json!({"username": "ops", "password": "p@ss"}));
        assert!(!format!("{sink:?}").contains("p@ss"), "{sink:?}");

        let sink = resolve(vars("amqps://ops:pw@rabbit/", Some("ops")), true)
            .unwrap()
            .unwrap();
        assert_eq!(
            sink.destination().1,
            json!({"server_url": "rabbit", "exchange": "ops", "tls": "true"})
        );

        for bad in [
            "rabbit:5672",
            "http://u:p@rabbit/",
            "amqp://rabbit:5672/",
            "amqp://u:p@rabbit:99999/",
        ] {
            let err = resolve(vars(bad, Some("ops")), true).unwrap_err();
            assert!(
                err.contains("OPERATOR_EVENTS_RABBITMQ_SERVER_URL"),
                "{bad}: {err}"
            );
        }
        let err = resolve(vars("amqp://u:secret-pw@rabbit/", None), true).unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_RABBITMQ_EXCHANGE is not"),
            "{err}"
        );
        assert!(!err.contains("secret-pw"), "{err}");
    }
}
