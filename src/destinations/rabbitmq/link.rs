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

use crate::domain::attempt_code::AttemptCode;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use amqprs::callbacks::{ChannelCallback, ConnectionCallback};
use amqprs::channel::{BasicPublishArguments, Channel, ConfirmSelectArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::tls::TlsAdaptor;
use amqprs::{Ack, BasicProperties, Cancel, Close, CloseChannel, Nack, Return};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use super::classify;
pub use super::server::Login;
use crate::destinations::sender::Failure;
use crate::domain::ssrf::NetworkPolicy;
use crate::net::resolve;

/// Heartbeat interval offered to the broker (it may lower it): a silent dead
/// connection is noticed after two missed beats.
const HEARTBEAT_SECONDS: u16 = 10;

/// One message, ready to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub routing_key: String,
    pub properties: BasicProperties,
    pub body: Vec<u8>,
}

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
        let timed_out = || {
            Failure::retryable(
                AttemptCode::Timeout,
                format!(
                    "no AMQP connection to {} within the timeout",
                    login.server()
                ),
            )
        };
        let addrs =
            tokio::time::timeout_at(deadline, resolve::vetted(policy, &login.host, login.port))
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
                Ok(Ok(connection)) => return Link::start(connection, login.clone()).await,
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

/// A confirm-mode channel used for one exchange.
struct Lane {
    channel: Channel,
    /// The next delivery tag; held while a message is numbered and queued.
    sending: Arc<tokio::sync::Mutex<u64>>,
    confirms: Arc<Mutex<Confirms>>,
}

/// The senders waiting for confirms, by delivery tag.
struct Confirms {
    waiting: BTreeMap<u64, oneshot::Sender<Result<(), Failure>>>,
    /// Set when the broker closed the channel.
    closed: Option<Failure>,
    last_confirm: Instant,
}

/// A published message's place in line for its confirm.
struct Confirm {
    tag: u64,
    rx: oneshot::Receiver<Result<(), Failure>>,
}

impl Lane {
    async fn open(connection: &Connection) -> Result<Arc<Lane>, Failure> {
        let channel = connection
            .open_channel(None)
            .await
            .map_err(|e| classify::amqp_failed(&e, "opening a channel"))?;
        let sending = Arc::new(tokio::sync::Mutex::new(1));
        let confirms = Arc::new(Mutex::new(Confirms {
            waiting: BTreeMap::new(),
            closed: None,
            last_confirm: Instant::now(),
        }));
        channel
            .register_callback(LaneEvents {
                sending: sending.clone(),
                confirms: confirms.clone(),
            })
            .await
            .map_err(|e| classify::amqp_failed(&e, "setting up a channel"))?;
        channel
            .confirm_select(ConfirmSelectArguments::new(false))
            .await
            .map_err(|e| classify::amqp_failed(&e, "turning on publisher confirms"))?;
        Ok(Arc::new(Lane {
            channel,
            sending,
            confirms,
        }))
    }

    fn usable(&self) -> bool {
        self.channel.is_open() && self.lock().closed.is_none()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Confirms> {
        self.confirms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers `out` and queues it on the connection.
    async fn publish(
        &self,
        exchange: &str,
        out: &Outgoing,
        deadline: Instant,
    ) -> Result<Confirm, Failure> {
        let mut next = tokio::time::timeout_at(deadline, self.sending.lock())
            .await
            .map_err(|_| {
                Failure::retryable(
                    AttemptCode::Timeout,
                    "the message could not be queued in time",
                )
            })?;
        let tag = *next;
        let (tx, rx) = oneshot::channel();
        {
            let mut confirms = self.lock();
            if let Some(failure) = &confirms.closed {
                return Err(failure.clone());
            }
            confirms.waiting.insert(tag, tx);
        }
        let mut args = BasicPublishArguments::new(exchange, &out.routing_key);
        // Not mandatory, as in Outpost: a message no queue is bound for is
        // confirmed and dropped by the broker, not returned.
        args.mandatory = false;
        if let Err(err) = self
            .channel
            .basic_publish(out.properties.clone(), out.body.clone(), args)
            .await
        {
            // The connection's writer is gone; numbering no longer matters
            // on this channel.
            let failure = classify::amqp_failed(&err, "publishing");
            let mut confirms = self.lock();
            confirms.waiting.remove(&tag);
            confirms.closed = Some(failure.clone());
            return Err(failure);
        }
        *next += 1;
        Ok(Confirm { tag, rx })
    }

    fn forget(&self, tag: u64) {
        self.lock().waiting.remove(&tag);
    }

    /// No confirm arrived since `t`.
    fn silent_since(&self, t: Instant) -> bool {
        self.lock().last_confirm < t
    }
}

/// The channel's events from the broker.
struct LaneEvents {
    sending: Arc<tokio::sync::Mutex<u64>>,
    confirms: Arc<Mutex<Confirms>>,
}

impl LaneEvents {
    /// Resolves the waiters for `tag` (and every earlier one if `multiple`).
    fn settle(&self, tag: u64, multiple: bool, result: Result<(), Failure>) {
        let settled = {
            let mut c = self.confirms.lock().unwrap_or_else(PoisonError::into_inner);
            c.last_confirm = Instant::now();
            if multiple {
                let later = c.waiting.split_off(&(tag + 1));
                std::mem::replace(&mut c.waiting, later)
            } else {
                c.waiting.remove_entry(&tag).into_iter().collect()
            }
        };
        for (_, tx) in settled {
            let _ = tx.send(result.clone());
        }
    }
}

#[async_trait::async_trait]
impl ChannelCallback for LaneEvents {
    async fn close(
        &mut self,
        _: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        let failure = classify::closed(close.reply_code(), close.reply_text(), "channel");
        // Taking the sending lock orders this with the publishes: any
        // message queued before it goes out before amqprs answers
        // close-ok (the broker discards it, and its waiter fails below);
        // none is queued after.
        let _sending = self.sending.lock().await;
        let waiting = {
            let mut c = self.confirms.lock().unwrap_or_else(PoisonError::into_inner);
            c.closed = Some(failure.clone());
            std::mem::take(&mut c.waiting)
        };
        for (_, tx) in waiting {
            let _ = tx.send(Err(failure.clone()));
        }
        Ok(())
    }

    async fn cancel(&mut self, _: &Channel, _: Cancel) -> Result<(), amqprs::error::Error> {
        Ok(())
    }

    async fn flow(&mut self, _: &Channel, active: bool) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }

    async fn publish_ack(&mut self, _: &Channel, ack: Ack) {
        self.settle(ack.delivery_tag(), ack.mutiple(), Ok(()));
    }

    async fn publish_nack(&mut self, _: &Channel, nack: Nack) {
        self.settle(
            nack.delivery_tag(),
            nack.multiple(),
            Err(Failure::retryable(
                AttemptCode::Rejected,
                "RabbitMQ refused the message (basic.nack): a queue may be at its length limit \
                 with overflow set to reject-publish",
            )),
        );
    }

    async fn publish_return(&mut self, _: &Channel, _: Return, _: BasicProperties, _: Vec<u8>) {
        // Only mandatory publishes are returned; these are not.
    }
}
