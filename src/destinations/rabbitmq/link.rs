//! One AMQP connection to a broker, as one login, and a confirm-mode
//! channel per exchange on it (a "lane").
//!
//! **Pipelined confirms.** In confirm mode the broker numbers the messages
//! of a channel 1, 2, 3… in the order it receives them and acknowledges
//! each (or, with `multiple`, all up to one) with `basic.ack`, or refuses it
//! with `basic.nack`. A sender takes the lane's `sending` lock only to take
//! the next number, note itself as waiting for it, and queue its frames;
//! the lock is what makes the numbers match the order the broker sees. It
//! then waits for its confirm without the lock, so the 64 sends in flight
//! share one channel and never wait for each other's round trips.
//!
//! **Why a lane per exchange.** The broker closes a channel on an error
//! that concerns one message, the common one being a publish to an
//! exchange that does not exist (404). Every unconfirmed message on that
//! channel is then lost to its sender. Lanes keep one destination's missing
//! exchange from failing the in-flight messages of another destination that
//! shares the login.
//!
//! **Failures.** A closed lane fails its waiters with the broker's reason
//! and is replaced on next use. A lost connection — the broker's
//! `connection.close` (a shutdown, say), a network error, heartbeats
//! missed, or no confirm at all for a whole timeout — kills the link: every
//! waiter fails at once with the reason, and the next send connects anew. A
//! message whose confirm never came may or may not have been routed, so its
//! failure is retried: a duplicate is possible, a loss is not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use amqprs::callbacks::ConnectionCallback;
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::tls::TlsAdaptor;
use amqprs::Close;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use super::classify;
use super::lane::{Lane, Outgoing};
pub use super::server::Login;
use crate::destinations::sender::Failure;
use crate::domain::attempt_code::AttemptCode;
use crate::domain::ssrf::NetworkPolicy;
use crate::net::resolve;

/// Heartbeat interval offered to the broker (it may lower it): a silent dead
/// connection is noticed after two missed beats.
const HEARTBEAT_SECONDS: u16 = 10;

/// Why a publish did not end in a confirm.
#[derive(Debug)]
pub enum PublishError {
    /// The link was already dead: nothing was written, another link may
    /// take the message.
    Stale(Failure),
    /// Failed, the message possibly written (retried later by the caller's
    /// schedule).
    Failed(Failure),
}

/// An open connection and its lanes.
pub struct Link {
    connection: Connection,
    login: Login,
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
    /// Held while a lane is opened, so that concurrent first sends to an
    /// exchange open one channel.
    opening: tokio::sync::Mutex<()>,
    /// Cancelled when the connection is lost; `why` says how.
    dead: CancellationToken,
    why: Arc<OnceLock<Failure>>,
}

impl Link {
    /// Opens a connection to `login` at a vetted address, before `deadline`.
    pub async fn connect(
        login: &Login,
        policy: &NetworkPolicy,
        tls: Option<&TlsConnector>,
        deadline: Instant,
    ) -> Result<Arc<Link>, Failure> {
        let connection = open(login, policy, tls, deadline).await?;
        Link::start(connection, login.clone()).await
    }

    async fn start(connection: Connection, login: Login) -> Result<Arc<Link>, Failure> {
        let dead = CancellationToken::new();
        let why = Arc::new(OnceLock::new());
        connection
            .register_callback(LinkEvents {
                server: login.server(),
                dead: dead.clone(),
                why: why.clone(),
            })
            .await
            .map_err(|e| classify::amqp_failed(&e, "setting up the connection"))?;
        // The connection's I/O tasks end on a network error (or missed
        // heartbeats) without a callback: this watch turns that into a
        // dead link. It also holds a handle of the connection, dropped when
        // the link is (cancelling `dead`), which closes the connection.
        let watched = connection.clone();
        let (watch_dead, watch_why, server) = (dead.clone(), why.clone(), login.server());
        tokio::spawn(async move {
            tokio::select! {
                _ = watched.listen_network_io_failure() => {
                    let _ = watch_why.set(Failure::retryable(AttemptCode::ConnectionReset,
                        format!("the connection to RabbitMQ at {server} was lost"),
                    ));
                    watch_dead.cancel();
                }
                _ = watch_dead.cancelled() => {}
            }
        });
        Ok(Arc::new(Link {
            connection,
            login,
            lanes: Mutex::new(HashMap::new()),
            opening: tokio::sync::Mutex::new(()),
            dead,
            why,
        }))
    }

    /// Whether the connection is usable.
    pub fn alive(&self) -> bool {
        !self.dead.is_cancelled() && self.connection.is_open()
    }

    fn why(&self) -> Failure {
        self.why.get().cloned().unwrap_or_else(|| {
            Failure::retryable(
                AttemptCode::ConnectionReset,
                format!(
                    "the connection to RabbitMQ at {} was closed",
                    self.login.server()
                ),
            )
        })
    }

    fn kill(&self, failure: Failure) {
        let _ = self.why.set(failure);
        self.dead.cancel();
    }

    /// Publishes `out` to `exchange` and waits for the broker's confirm
    /// until `deadline`.
    pub async fn publish(
        &self,
        exchange: &str,
        out: &Outgoing,
        deadline: Instant,
    ) -> Result<(), PublishError> {
        if !self.alive() {
            return Err(PublishError::Stale(self.why()));
        }
        let lane = self.lane(exchange, deadline).await.map_err(|f| {
            if self.alive() {
                PublishError::Failed(f)
            } else {
                PublishError::Stale(self.why())
            }
        })?;
        let sent_at = Instant::now();
        let confirm = lane.publish(exchange, out, deadline).await.map_err(|f| {
            if self.alive() {
                PublishError::Failed(f)
            } else {
                PublishError::Stale(self.why())
            }
        })?;
        tokio::select! {
            outcome = confirm.rx => match outcome {
                Ok(result) => result.map_err(PublishError::Failed),
                Err(_) => Err(PublishError::Failed(self.why())),
            },
            _ = self.dead.cancelled() => Err(PublishError::Failed(self.why())),
            _ = tokio::time::sleep_until(deadline) => {
                lane.forget(confirm.tag);
                let failure = Failure::retryable(AttemptCode::Timeout,
                    format!("RabbitMQ at {} did not confirm the message in time", self.login.server()),
                );
                // Not one confirm since this message went out: the
                // connection is stuck (or the broker has stopped reading
                // it); the next send connects anew.
                if lane.silent_since(sent_at) {
                    self.kill(failure.clone());
                }
                Err(PublishError::Failed(failure))
            }
        }
    }

    /// The open lane for `exchange`, opened if needed.
    async fn lane(&self, exchange: &str, deadline: Instant) -> Result<Arc<Lane>, Failure> {
        if let Some(lane) = self.open_lane(exchange) {
            return Ok(lane);
        }
        let timed_out = || {
            Failure::retryable(
                AttemptCode::Timeout,
                format!(
                    "no AMQP channel on {} within the timeout",
                    self.login.server()
                ),
            )
        };
        let _opening = tokio::time::timeout_at(deadline, self.opening.lock())
            .await
            .map_err(|_| timed_out())?;
        if let Some(lane) = self.open_lane(exchange) {
            return Ok(lane);
        }
        let lane = tokio::time::timeout_at(deadline, Lane::open(&self.connection))
            .await
            .map_err(|_| timed_out())??;
        self.lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(exchange.to_string(), lane.clone());
        Ok(lane)
    }

    fn open_lane(&self, exchange: &str) -> Option<Arc<Lane>> {
        let lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        lanes.get(exchange).filter(|l| l.usable()).cloned()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Ends the network watch, which drops the last connection handle:
        // amqprs then closes the connection.
        self.dead.cancel();
    }
}

/// The connection's events from the broker.
struct LinkEvents {
    server: String,
    dead: CancellationToken,
    why: Arc<OnceLock<Failure>>,
}

#[async_trait::async_trait]
impl ConnectionCallback for LinkEvents {
    async fn close(&mut self, _: &Connection, close: Close) -> Result<(), amqprs::error::Error> {
        let failure = classify::closed(close.reply_code(), close.reply_text(), "connection");
        tracing::info!(server = %self.server, code = %failure.code, reason = %close.reply_text(), "RabbitMQ closed the connection");
        let _ = self.why.set(failure);
        self.dead.cancel();
        Ok(())
    }

    async fn blocked(&mut self, _: &Connection, reason: String) {
        // A resource alarm (memory, disk): the broker stops reading
        // publishes until it clears; sends time out meanwhile.
        tracing::warn!(server = %self.server, %reason, "RabbitMQ blocked the connection");
    }

    async fn unblocked(&mut self, _: &Connection) {
        tracing::info!(server = %self.server, "RabbitMQ unblocked the connection");
    }

    async fn secret_updated(&mut self, _: &Connection) {}
}

/// An AMQP connection to `login` at a vetted address, opened before
/// `deadline`: the link's, and the publish queue's consumer's
/// (`intake::rabbitmq`).
pub async fn open(
    login: &Login,
    policy: &NetworkPolicy,
    tls: Option<&TlsConnector>,
    deadline: Instant,
) -> Result<Connection, Failure> {
    let timed_out = || {
        Failure::retryable(
            AttemptCode::Timeout,
            format!(
                "no AMQP connection to {} within the timeout",
                login.server()
            ),
        )
    };
    let addrs = tokio::time::timeout_at(deadline, resolve::vetted(policy, &login.host, login.port))
        .await
        .map_err(|_| timed_out())??;
    let mut last = timed_out();
    for addr in addrs {
        // The vetted address is what amqprs connects to; the name stays
        // for TLS (SNI and the certificate check).
        let ip = match addr.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let mut args =
            OpenConnectionArguments::new(&ip, addr.port(), &login.username, &login.password);
        args.virtual_host(&login.vhost)
            .heartbeat(HEARTBEAT_SECONDS)
            .connection_name(concat!("outbound/", env!("CARGO_PKG_VERSION")));
        if login.tls {
            let Some(tls) = tls else {
                return Err(Failure::retryable(
                    AttemptCode::TlsError,
                    "TLS is not available in this build's configuration",
                ));
            };
            args.tls_adaptor(TlsAdaptor::new(tls.clone(), login.host.clone()));
        }
        match tokio::time::timeout_at(deadline, Connection::open(&args)).await {
            Err(_) => return Err(timed_out()),
            Ok(Ok(connection)) => return Ok(connection),
            Ok(Err(err)) => {
                last = classify::open_failed(&err, login);
                // Another address may answer; a broker that answered
                // and refused will refuse there too.
                if !matches!(
                    last.code,
                    AttemptCode::ConnectionRefused
                        | AttemptCode::ConnectionReset
                        | AttemptCode::NetworkError
                        | AttemptCode::Timeout
                ) {
                    return Err(last);
                }
            }
        }
    }
    Err(last)
}
