//! RabbitMQ (WIRE.md): an AMQP 0-9-1 `basic.publish` to `config.exchange`
//! on `config.server_url`, confirmed by the broker.
//!
//! What goes on the wire, as Outpost sends it: the routing key is the
//! event's topic; the body is the event's data, byte for byte; the content
//! type is `application/json`; every metadata key (`event-id`, `topic`,
//! `timestamp`, the destination's `delivery_metadata`, the event's
//! `metadata`) is an AMQP header with a string value. Not mandatory, as in
//! Outpost: a message no queue is bound for is dropped by the broker.
//!
//! One difference, on purpose: messages are persistent (delivery mode 2).
//! Success is the broker's publisher confirm, and for a persistent message
//! routed to a durable queue the broker confirms once the message is on
//! disk — so a delivery recorded as done survives a broker restart. Outpost
//! publishes transient messages without confirms.
//!
//! Connections are kept per login — server, TLS, virtual host, user and
//! password — in a [`Broker`]: one connection, shared by every destination
//! with that login, with a channel per exchange (see `link`). A failed
//! connection is rebuilt by the next send; a failed attempt to connect is
//! remembered for a moment so that the sends queued behind it fail at once
//! with its reason instead of each trying again.
//!
//! Every connection goes to an address vetted by the SSRF guard
//! (`delivery::net`); TLS checks the certificate against the host name.

use crate::domain::attempt_code::AttemptCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use amqprs::{BasicProperties, FieldTable, FieldValue};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::lane::Outgoing;
use super::link::{Link, Login, PublishError};
use crate::destinations::rabbitmq::server::{AmqpServer, SHORT_STR_MAX};
use crate::destinations::sender::{
    BoxFuture, Failure, Message, Sender, SenderContext, Sent, Target,
};
use crate::domain::ssrf::NetworkPolicy;

/// How long a failed attempt to connect answers for the sends behind it.
const FAILURE_MEMORY: Duration = Duration::from_secs(1);
/// A login unused this long is closed when another one is opened.
const IDLE_CLOSE: Duration = Duration::from_secs(300);

pub struct RabbitmqSender {
    policy: Arc<NetworkPolicy>,
    timeout: Duration,
    /// The TLS client (webpki roots); None if it could not be built, which
    /// fails TLS sends with a reason instead of failing start-up.
    tls: Option<TlsConnector>,
    brokers: Mutex<HashMap<LoginKey, Arc<Broker>>>,
}

impl RabbitmqSender {
    pub fn new(ctx: &SenderContext) -> RabbitmqSender {
        let tls = tls_connector()
            .inspect_err(|e| tracing::error!(error = %e, "no TLS client for RabbitMQ"))
            .ok();
        RabbitmqSender {
            policy: ctx.policy.clone(),
            timeout: ctx.timeout,
            tls,
            brokers: Mutex::new(HashMap::new()),
        }
    }

    async fn publish(&self, target: Target<'_>, message: Message<'_>) -> Result<(), Failure> {
        let deadline = Instant::now() + self.timeout;
        let invalid =
            |message: String| Failure::permanent(AttemptCode::InvalidDestinationConfig, message);
        let server = AmqpServer::from_config(target.config)
            .map_err(|e| invalid(format!("{}: {}", e.field, e.message)))?;
        let credential = |key: &str| {
            target
                .credentials
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let (Some(username), Some(password)) = (credential("username"), credential("password"))
        else {
            return Err(invalid(
                "credentials.username and credentials.password are required".into(),
            ));
        };
        let login = Login {
            host: server.host.clone(),
            port: server.port,
            tls: server.tls,
            vhost: server.vhost.clone(),
            username,
            password,
        };
        let out = outgoing(&message)
            .map_err(|reason| Failure::permanent(AttemptCode::InvalidMessage, reason))?;
        let broker = self.broker(login);
        // A connection that died while idle is only found dead when used:
        // then one more try, on a new one.
        for first in [true, false] {
            let link = broker.link(self, deadline).await?;
            match link.publish(&server.exchange, &out, deadline).await {
                Ok(()) => return Ok(()),
                Err(PublishError::Stale(_)) if first => broker.drop_link(&link),
                Err(PublishError::Stale(f) | PublishError::Failed(f)) => return Err(f),
            }
        }
        Err(Failure::retryable(
            AttemptCode::ConnectionReset,
            "the connection to RabbitMQ was lost",
        ))
    }

    /// The broker for `login`, made on first use; idle ones are closed
    /// when a new one is made.
    fn broker(&self, login: Login) -> Arc<Broker> {
        let key = LoginKey::of(&login);
        let mut brokers = self.brokers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = brokers.get(&key) {
            b.touch();
            return b.clone();
        }
        brokers.retain(|_, b| b.idle() < IDLE_CLOSE);
        let broker = Arc::new(Broker {
            login,
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(None),
            last_used: Mutex::new(Instant::now()),
        });
        brokers.insert(key, broker.clone());
        broker
    }
}

impl Sender for RabbitmqSender {
    fn send<'a>(&'a self, target: Target<'a>, message: Message<'a>) -> BoxFuture<'a, Sent> {
        Box::pin(async move {
            match self.publish(target, message).await {
                Ok(()) => Sent::Delivered(None),
                Err(failure) => Sent::Failed(failure),
            }
        })
    }
}

/// What identifies a login; the password only as a digest, so that two
/// destinations share a connection only if they hold the same password.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LoginKey {
    host: String,
    port: u16,
    tls: bool,
    vhost: String,
    username: String,
    password: [u8; 32],
}

impl LoginKey {
    fn of(l: &Login) -> LoginKey {
        LoginKey {
            host: l.host.clone(),
            port: l.port,
            tls: l.tls,
            vhost: l.vhost.clone(),
            username: l.username.clone(),
            password: Sha256::digest(l.password.as_bytes()).into(),
        }
    }
}

/// One login's connection, rebuilt after a failure.
struct Broker {
    login: Login,
    current: Mutex<Option<Arc<Link>>>,
    /// Held while connecting (one attempt at a time); holds the last failed
    /// attempt.
    connecting: tokio::sync::Mutex<Option<(Instant, Failure)>>,
    last_used: Mutex<Instant>,
}

impl Broker {
    fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn idle(&self) -> Duration {
        self.last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }

    fn live_link(&self) -> Option<Arc<Link>> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.as_ref().filter(|l| l.alive()).cloned()
    }

    fn drop_link(&self, link: &Arc<Link>) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, link)) {
            *current = None;
        }
    }

    /// The live connection, or a new one.
    async fn link(&self, sender: &RabbitmqSender, deadline: Instant) -> Result<Arc<Link>, Failure> {
        if let Some(link) = self.live_link() {
            return Ok(link);
        }
        let mut last_failure = tokio::time::timeout_at(deadline, self.connecting.lock())
            .await
            .map_err(|_| {
                Failure::retryable(
                    AttemptCode::Timeout,
                    format!(
                        "no AMQP connection to {} within the timeout",
                        self.login.server()
                    ),
                )
            })?;
        // Someone else may have connected while this send waited.
        if let Some(link) = self.live_link() {
            return Ok(link);
        }
        if let Some((at, failure)) = last_failure.as_ref() {
            if at.elapsed() < FAILURE_MEMORY {
                return Err(failure.clone());
            }
        }
        match Link::connect(&self.login, &sender.policy, sender.tls.as_ref(), deadline).await {
            Ok(link) => {
                tracing::debug!(login = ?self.login, "connected to RabbitMQ");
                *last_failure = None;
                *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(link.clone());
                Ok(link)
            }
            Err(failure) => {
                *last_failure = Some((Instant::now(), failure.clone()));
                Err(failure)
            }
        }
    }
}

/// The message for `message`: routing key, properties, body; or why AMQP
/// cannot carry it.
fn outgoing(message: &Message<'_>) -> Result<Outgoing, String> {
    let mut headers = FieldTable::new();
    for (key, value) in message.metadata.iter() {
        let name = key
            .to_string()
            .try_into()
            .ok()
            .filter(|_| key.len() <= SHORT_STR_MAX);
        let Some(name) = name else {
            return Err(format!(
                "metadata key {:?}… is longer than 255 bytes, the most an AMQP header name can be",
                key.chars().take(40).collect::<String>()
            ));
        };
        headers.insert(name, FieldValue::from(value.to_string()));
    }
    // The topic was checked at publish (at most 255 bytes), which is what
    // a routing key may be; checked again so amqprs is never handed more.
    if message.topic.len() > SHORT_STR_MAX {
        return Err(
            "the topic is longer than 255 bytes, the most an AMQP routing key can be".into(),
        );
    }
    let properties = BasicProperties::default()
        .with_content_type("application/json")
        .with_persistence(true)
        .with_headers(headers)
        .finish();
    Ok(Outgoing {
        routing_key: message.topic.to_string(),
        properties,
        body: message.data.as_bytes().to_vec(),
    })
}

/// The TLS client: the webpki (Mozilla) roots, ring as the crypto provider.
pub fn tls_connector() -> Result<TlsConnector, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::test_support::Sample;

    use serde_json::json;

    fn with_message<T>(
        metadata: Value,
        topic: &'static str,
        f: impl FnOnce(Message<'_>) -> T,
    ) -> T {
        let sample = Sample::new(topic, Some(json!({"region": "eu"})), metadata);
        f(sample.message("{\"b\":1,  \"a\":2}"))
    }

    #[test]
    fn the_message_is_outposts_with_persistence() {
        let out = with_message(json!({"source": "crm"}), "user.created", |m| outgoing(&m)).unwrap();
        assert_eq!(out.routing_key, "user.created");
        assert_eq!(out.body, b"{\"b\":1,  \"a\":2}");
        let p = &out.properties;
        assert_eq!(
            p.content_type().map(String::as_str),
            Some("application/json")
        );
        assert_eq!(p.delivery_mode(), Some(2));
        let headers = p.headers().unwrap();
        let get = |k: &str| match headers.get(&k.try_into().unwrap()) {
            Some(FieldValue::S(s)) => Some(s.as_ref().clone()),
            _ => None,
        };
        assert_eq!(get("event-id").as_deref(), Some("evt_1"));
        assert_eq!(get("topic").as_deref(), Some("user.created"));
        assert_eq!(get("timestamp").as_deref(), Some("2026-11-29T12:00:00Z"));
        assert_eq!(get("region").as_deref(), Some("eu"));
        assert_eq!(get("source").as_deref(), Some("crm"));
        assert_eq!(headers.as_ref().len(), 5);
    }

    #[test]
    fn a_header_name_amqp_cannot_carry_fails_for_good() {
        let long = "k".repeat(256);
        let err = with_message(json!({ long: "v" }), "t", |m| outgoing(&m)).unwrap_err();
        assert!(err.contains("longer than 255 bytes"), "{err}");
    }

    #[test]
    fn logins_share_a_connection_only_with_the_same_password() {
        let login = |password: &str| Login {
            host: "mq".into(),
            port: 5672,
            tls: false,
            vhost: "/".into(),
            username: "u".into(),
            password: password.into(),
        };
        assert_eq!(LoginKey::of(&login("a")), LoginKey::of(&login("a")));
        assert_ne!(LoginKey::of(&login("a")), LoginKey::of(&login("b")));
        assert!(!format!("{:?}", login("hunter2")).contains("hunter2"));
    }
}
