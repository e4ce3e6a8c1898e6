//! Kafka (WIRE.md): each event becomes one record on `config.topic` of the
//! cluster at `config.brokers`, over TLS when `config.tls` says so, after a
//! SASL login (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512). The record is built
//! in [`record`]; the partition is the one Outpost's partitioner picks for
//! the key (`domain::kafka::partition_for`); success is the partition
//! leader's acknowledgement of the record.
//!
//! ## Connections
//!
//! A client (connections to the cluster, its metadata, one handle per
//! partition written to) is kept per cluster and login — brokers, TLS,
//! mechanism, user and password — and shared by every destination with the
//! same ones. Any failure but a topic-level one (unknown topic, record too
//! large) drops it, and the next delivery builds a new one. Clients unused
//! for [`IDLE_AFTER`] are closed.
//!
//! ## The SSRF guard
//!
//! The client crate (rskafka) dials brokers itself — the bootstrap brokers
//! and then whichever addresses the cluster advertises — and takes no
//! custom connector; it does take a SOCKS5 proxy. Each client therefore
//! gets its own [`VettedRelay`](crate::delivery::socks::VettedRelay) on
//! loopback, and every connection it opens goes through `net::connect`:
//! resolved once, refused addresses dropped, connected by address. TLS
//! runs inside the tunnel, checked against the broker's host name.

use crate::domain::attempt_code::AttemptCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rskafka::client::error::Error as ClientError;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use rskafka::BackoffConfig;
use rustls::pki_types::CertificateDer;

use super::failure::{classify, scrub, unknown_topic};
use super::record::{Mechanism, Settings};
use crate::destinations::kafka::brokers::partition_for;
use crate::destinations::sender::{
    BoxFuture, Failure, Message, Sender, SenderContext, Sent, Target,
};
use crate::domain::ssrf::NetworkPolicy;
use crate::net::socks::VettedRelay;

/// A client nobody used for this long is closed (its connections, its
/// relay), so that deleted destinations do not hold connections forever.
const IDLE_AFTER: Duration = Duration::from_secs(10 * 60);

/// How long a topic's partition count is trusted before it is asked again,
/// so that added partitions are used, as kafka-go's metadata refresh does.
const PARTITIONS_TTL: Duration = Duration::from_secs(60);

/// Produces records to Kafka clusters.
pub struct KafkaSender {
    policy: Arc<NetworkPolicy>,
    /// The whole attempt: connecting, logging in, metadata, the produce.
    timeout: Duration,
    /// None if rustls refused the configuration (it cannot, with ring and
    /// its default versions): TLS destinations then fail with `tls_error`.
    tls: Option<Arc<rustls::ClientConfig>>,
    clients: Mutex<HashMap<ClientKey, Arc<Slot>>>,
}

/// What a client is shared by. Deliberately not `Debug`: it holds the
/// password.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    brokers: Vec<String>,
    tls: bool,
    mechanism: Mechanism,
    username: String,
    password: String,
}

/// One key's client, built on first use; `None` after a failure.
struct Slot {
    conn: tokio::sync::Mutex<Option<Arc<Connection>>>,
    last_used: Mutex<Instant>,
}

/// Why a produce did not happen.
enum Problem {
    Client(ClientError),
    /// The cluster's metadata does not list the topic.
    NoSuchTopic,
}

/// A live client and what it learned.
struct Connection {
    client: Client,
    /// Kept for its failures, and alive as long as the client uses it.
    relay: VettedRelay,
    /// Partition count per topic, and when it was read.
    partitions: Mutex<HashMap<String, (Instant, i32)>>,
    writers: tokio::sync::Mutex<HashMap<(String, i32), Arc<PartitionClient>>>,
}

impl KafkaSender {
    pub fn new(ctx: &SenderContext) -> KafkaSender {
        Self::with_roots(ctx, Vec::new())
    }

    /// As [`new`](Self::new), also trusting `extra_roots` (tests use a
    /// private CA) besides the webpki (Mozilla) roots.
    pub fn with_roots(
        ctx: &SenderContext,
        extra_roots: Vec<CertificateDer<'static>>,
    ) -> KafkaSender {
        KafkaSender {
            policy: ctx.policy.clone(),
            timeout: ctx.timeout,
            tls: tls_config(extra_roots).ok().map(Arc::new),
            clients: Mutex::new(HashMap::new()),
        }
    }

    async fn produce(&self, s: &Settings<'_>, message: Message<'_>) -> Result<(), Failure> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let (slot, conn) = self.connection(s, deadline).await?;
        let record = super::record::build(s.template, message);
        let attempt = async {
            let count = conn.partition_count(s.topic).await?;
            let partition = partition_for(record.key.as_bytes(), count);
            let writer = conn.writer(s.topic, partition).await?;
            let record = rskafka::record::Record {
                key: Some(record.key.into_bytes()),
                value: Some(record.value),
                headers: record.headers,
                timestamp: message.attempted_at,
            };
            writer
                .produce(vec![record], Compression::NoCompression)
                .await
                .map(|_| ())
                .map_err(Problem::Client)
        };
        let outcome = tokio::time::timeout_at(deadline, attempt).await;
        let (failure, rebuild) = match outcome {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(problem)) => {
                let c = match &problem {
                    Problem::Client(err) => classify(err, s),
                    Problem::NoSuchTopic => unknown_topic(s),
                };
                if c.failure.code == "topic_not_found" {
                    conn.forget_topic(s.topic).await;
                }
                (c.failure, c.rebuild)
            }
            Err(_) => (self.timed_out(s), true),
        };
        // A connection the relay could not make says more than the
        // client's account of it.
        let failure = match conn.relay.take_failure() {
            Some(relayed) if rebuild => relayed.into(),
            _ => failure,
        };
        if rebuild {
            slot.forget(&conn).await;
        }
        Err(failure)
    }

    /// The client for `s`, built if there is none.
    async fn connection(
        &self,
        s: &Settings<'_>,
        deadline: tokio::time::Instant,
    ) -> Result<(Arc<Slot>, Arc<Connection>), Failure> {
        let key = ClientKey {
            brokers: s.brokers.iter().map(ToString::to_string).collect(),
            tls: s.tls,
            mechanism: s.mechanism,
            username: s.username.to_string(),
            password: s.password.to_string(),
        };
        let slot = self.slot(key);
        // Held while building: concurrent deliveries to the same cluster
        // wait for one login instead of each making their own.
        let mut conn = slot.conn.lock().await;
        if let Some(c) = conn.as_ref() {
            return Ok((slot.clone(), c.clone()));
        }
        let built = Arc::new(self.build(s, deadline).await?);
        *conn = Some(built.clone());
        drop(conn);
        Ok((slot, built))
    }

    /// The slot of `key`, creating it; closes clients left idle.
    fn slot(&self, key: ClientKey) -> Arc<Slot> {
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.retain(|_, slot| {
            let last = *slot.last_used.lock().unwrap_or_else(|e| e.into_inner());
            now.duration_since(last) < IDLE_AFTER
        });
        let slot = clients.entry(key).or_insert_with(|| {
            Arc::new(Slot {
                conn: tokio::sync::Mutex::new(None),
                last_used: Mutex::new(now),
            })
        });
        *slot.last_used.lock().unwrap_or_else(|e| e.into_inner()) = now;
        slot.clone()
    }

    /// Connects and logs in to the cluster of `s` through a new relay.
    async fn build(
        &self,
        s: &Settings<'_>,
        deadline: tokio::time::Instant,
    ) -> Result<Connection, Failure> {
        let relay = VettedRelay::start(self.policy.clone(), self.timeout)
            .await
            .map_err(|e| {
                Failure::retryable(AttemptCode::NetworkError, format!("no local relay: {e}"))
            })?;
        let credentials = Credentials::new(s.username.to_string(), s.password.to_string());
        let sasl = match s.mechanism {
            Mechanism::Plain => SaslConfig::Plain(credentials),
            Mechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
            Mechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
        };
        // The client retries failed connections with backoff; give it half
        // the attempt, so that it stops with its own account of the last
        // error before the attempt's deadline cuts it short.
        let backoff = BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 3.0,
            deadline: Some(self.timeout / 2),
        };
        let mut builder = ClientBuilder::new(s.brokers.iter().map(ToString::to_string).collect())
            .client_id(concat!("outbound/", env!("CARGO_PKG_VERSION")))
            .socks5_proxy(relay.addr().to_string())
            .sasl_config(sasl)
            .backoff_config(backoff)
            // Metadata and produce answers are small; this bounds what a
            // hostile broker can make us buffer.
            .max_message_size(16 * 1024 * 1024);
        if s.tls {
            let Some(tls) = self.tls.clone() else {
                return Err(Failure::retryable(
                    AttemptCode::TlsError,
                    "TLS is not available",
                ));
            };
            builder = builder.tls_config(tls);
        }
        let failure = match tokio::time::timeout_at(deadline, builder.build()).await {
            Ok(Ok(client)) => {
                return Ok(Connection {
                    client,
                    relay,
                    partitions: Mutex::new(HashMap::new()),
                    writers: tokio::sync::Mutex::new(HashMap::new()),
                })
            }
            Ok(Err(err)) => classify(&err, s).failure,
            Err(_) => self.timed_out(s),
        };
        Err(relay.take_failure().map_or(failure, Failure::from))
    }

    fn timed_out(&self, s: &Settings<'_>) -> Failure {
        let brokers: Vec<String> = s.brokers.iter().map(ToString::to_string).collect();
        Failure::retryable(
            AttemptCode::Timeout,
            format!(
                "no acknowledgement from {} within {:?}",
                brokers.join(","),
                self.timeout
            ),
        )
    }
}

impl Slot {
    /// Drops `conn` if it is still this slot's client.
    async fn forget(&self, conn: &Arc<Connection>) {
        let mut current = self.conn.lock().await;
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *current = None;
        }
    }
}

impl Connection {
    /// How many partitions `topic` has (from the cluster's metadata).
    async fn partition_count(&self, topic: &str) -> Result<i32, Problem> {
        let cached = self
            .partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .filter(|(at, _)| at.elapsed() < PARTITIONS_TTL)
            .map(|(_, n)| *n);
        if let Some(n) = cached {
            return Ok(n);
        }
        // Listing (rather than asking for the one topic) never makes a
        // broker with auto-creation on create the topic: Outpost's writer
        // does not create topics either.
        let topics = self.client.list_topics().await.map_err(Problem::Client)?;
        let count = topics
            .iter()
            .find(|t| t.name == topic)
            .map(|t| i32::try_from(t.partitions.len()).unwrap_or(i32::MAX))
            .filter(|n| *n > 0)
            .ok_or(Problem::NoSuchTopic)?;
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(topic.to_string(), (Instant::now(), count));
        Ok(count)
    }

    /// The handle that writes to `partition` of `topic`.
    async fn writer(&self, topic: &str, partition: i32) -> Result<Arc<PartitionClient>, Problem> {
        let mut writers = self.writers.lock().await;
        if let Some(w) = writers.get(&(topic.to_string(), partition)) {
            return Ok(w.clone());
        }
        let w = Arc::new(
            self.client
                .partition_client(topic, partition, UnknownTopicHandling::Error)
                .await
                .map_err(Problem::Client)?,
        );
        writers.insert((topic.to_string(), partition), w.clone());
        Ok(w)
    }

    /// Forgets what is known of `topic` (it was reported missing).
    async fn forget_topic(&self, topic: &str) {
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(topic);
        self.writers.lock().await.retain(|(t, _), _| t != topic);
    }
}

/// TLS to brokers: the webpki (Mozilla) roots plus `extra_roots`, ring.
/// No ALPN: Kafka does not negotiate a protocol.
fn tls_config(
    extra_roots: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra_roots {
        roots.add(cert)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Sender for KafkaSender {
    fn send<'a>(&'a self, target: Target<'a>, message: Message<'a>) -> BoxFuture<'a, Sent> {
        Box::pin(async move {
            let settings = match Settings::read(target) {
                Ok(s) => s,
                Err(message) => return Sent::Failed(Settings::unusable(message)),
            };
            match self.produce(&settings, message).await {
                Ok(()) => Sent::Delivered(None),
                Err(mut failure) => {
                    failure.message = scrub(failure.message, settings.password);
                    Sent::Failed(failure)
                }
            }
        })
    }
}
