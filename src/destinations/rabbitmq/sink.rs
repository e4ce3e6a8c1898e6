//! Operator events to a RabbitMQ exchange (`OPERATOR_EVENTS_RABBITMQ_*`),
//! sent by the RabbitMQ sender; the routing key is the event's topic.

use std::sync::Arc;

use serde_json::json;

use super::send::RabbitmqSender;
use super::server::{AmqpServer, Login};
use crate::destinations::kind::DestinationKind;
use crate::destinations::sink::{required, QueueSink, SinkArgs};
use crate::domain::setting;

const SINK: &str = "OPERATOR_EVENTS_RABBITMQ_SERVER_URL";

#[derive(clap::Args, Clone, Default)]
#[group(skip)]
pub struct RabbitmqSinkArgs {
    /// Operator events to this RabbitMQ instead, amqp://user:password@host:port/vhost (one sink only)
    #[arg(
        id = "operator_events_rabbitmq_server_url",
        env = "OPERATOR_EVENTS_RABBITMQ_SERVER_URL"
    )]
    #[arg(hide_env_values = true, value_parser = setting::text)]
    pub server_url: Option<String>,
    /// RabbitMQ exchange of the operator events (routing key: the topic)
    #[arg(id = "operator_events_rabbitmq_exchange", env = "OPERATOR_EVENTS_RABBITMQ_EXCHANGE", value_parser = setting::text)]
    pub exchange: Option<String>,
}

/// Without the secrets: settings are printed in debug output.
impl std::fmt::Debug for RabbitmqSinkArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitmqSinkArgs")
            .field("exchange", &self.exchange)
            .field("server_url", &self.server_url.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl SinkArgs for RabbitmqSinkArgs {
    fn primary(&self) -> (&'static str, bool) {
        (SINK, self.server_url.is_some())
    }

    fn companions(&self) -> Vec<(&'static str, bool)> {
        vec![("OPERATOR_EVENTS_RABBITMQ_EXCHANGE", self.exchange.is_some())]
    }

    /// Outpost's URL, split into the rabbitmq destination's `server_url`
    /// (`host:port[/vhost]`), `tls` and credentials.
    fn sink(&self) -> Result<QueueSink, String> {
        let url = required(&self.server_url, SINK, SINK)?;
        let AmqpUrl { server_url, login } = parse_amqp_url(url, SINK)?;
        let (tls, username, password) = (login.tls, login.username, login.password);
        let exchange = required(&self.exchange, "OPERATOR_EVENTS_RABBITMQ_EXCHANGE", SINK)?;
        let config = super::config(&server_url, exchange, tls);
        AmqpServer::from_config(&config).map_err(|e| {
            let variable = if e.field == "config.exchange" {
                "OPERATOR_EVENTS_RABBITMQ_EXCHANGE"
            } else {
                SINK
            };
            format!("invalid value for {variable}: {}", e.message)
        })?;
        Ok(QueueSink {
            kind: DestinationKind::Rabbitmq,
            describe: format!("RabbitMQ exchange {exchange:?} on {server_url}"),
            config,
            credentials: json!({ "username": username, "password": password }),
            sender: Arc::new(|ctx| Arc::new(RabbitmqSender::new(ctx))),
        })
    }
}

/// An `amqp[s]://user:password@host[:port][/vhost]` URL (Outpost's form)
/// read from `variable`: the rabbitmq destination's `server_url` and the
/// login. Errors name the variable and never repeat the URL (it carries
/// the password).
pub fn parse_amqp_url(url: &str, variable: &str) -> Result<AmqpUrl, String> {
    let invalid = |why: &str| format!("invalid value for {variable}: {why}");
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
    let server = AmqpServer::from_config(&super::config(&server_url, "", tls))
        .map_err(|e| invalid(&e.message))?;
    Ok(AmqpUrl {
        server_url,
        login: Login {
            host: server.host,
            port: server.port,
            tls,
            vhost: server.vhost,
            username,
            password,
        },
    })
}

/// A RabbitMQ URL, read.
pub struct AmqpUrl {
    /// `host:port[/vhost]`, as a rabbitmq destination's `server_url`.
    pub server_url: String,
    pub login: Login,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rabbitmq_url_is_split_into_the_destination_config_and_credentials() {
        let args = |url: &str, exchange: Option<&str>| RabbitmqSinkArgs {
            server_url: Some(url.into()),
            exchange: exchange.map(str::to_string),
        };
        let sink = args("amqp://ops:p%40ss@rabbit:5673/prod", Some("ops"))
            .sink()
            .unwrap();
        assert_eq!(sink.kind, DestinationKind::Rabbitmq);
        assert_eq!(
            sink.config,
            json!({"server_url": "rabbit:5673/prod", "exchange": "ops", "tls": "false"})
        );
        assert_eq!(
            sink.credentials,
            json!({"username": "ops", "password": "p@ss"})
        );
        assert!(!format!("{sink:?}").contains("p@ss"), "{sink:?}");

        let sink = args("amqps://ops:pw@rabbit/", Some("ops")).sink().unwrap();
        assert_eq!(
            sink.config,
            json!({"server_url": "rabbit", "exchange": "ops", "tls": "true"})
        );

        for bad in [
            "rabbit:5672",
            "http://u:p@rabbit/",
            "amqp://rabbit:5672/",
            "amqp://u:p@rabbit:99999/",
        ] {
            let err = args(bad, Some("ops")).sink().unwrap_err();
            assert!(
                err.contains("OPERATOR_EVENTS_RABBITMQ_SERVER_URL"),
                "{bad}: {err}"
            );
        }
        let err = args("amqp://u:secret-pw@rabbit/", None).sink().unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_RABBITMQ_EXCHANGE is not"),
            "{err}"
        );
        assert!(!err.contains("secret-pw"), "{err}");
    }
}
