//! The publish queue on RabbitMQ (`PUBLISH_RABBITMQ_*`): a consumer on the
//! queue `PUBLISH_RABBITMQ_QUEUE`, with manual acknowledgements and a
//! prefetch of `PUBLISH_MAX_CONCURRENCY`, so the broker hands out no more
//! than the loop publishes at once.
//!
//! The queue must exist (as with Outpost, nothing is declared or bound:
//! the queue's type, dead-lettering and bindings are the operator's).
//! `PUBLISH_RABBITMQ_EXCHANGE` is accepted for Outpost's configurations
//! and not read: it is where publishers send, not where this reads.
//!
//! Settling: a published or duplicate message is acked; a refused one is
//! rejected without requeueing (the queue's dead-letter exchange, if it has
//! one, receives it; otherwise the broker drops it); one to retry is
//! rejected with requeueing. A lost connection requeues every message not
//! yet acked, which the broker then delivers again (`redelivered`).
//!
//! The connection is opened with the rabbitmq destination's code
//! (`destinations::rabbitmq::open`): the URL, TLS (`amqps://`) and login are
//! read alike, for any address (the operator names the broker).

use std::time::Duration;

use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicQosArguments, BasicRejectArguments, Channel,
    ConsumerMessage,
};
use amqprs::connection::Connection;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::settings::BrokerArgs;
use super::{Settle, Source, SourceError, Taken};
use crate::destinations::rabbitmq::send::tls_connector;
use crate::destinations::rabbitmq::server::Login;
use crate::destinations::rabbitmq::sink::{parse_amqp_url, AmqpUrl};
use crate::domain::setting;
use crate::domain::ssrf::NetworkPolicy;

const SERVER_URL: &str = "PUBLISH_RABBITMQ_SERVER_URL";
const QUEUE: &str = "PUBLISH_RABBITMQ_QUEUE";

/// How long a receive waits for a first message before answering none
/// (and checking the connection).
const POLL: Duration = Duration::from_secs(5);
/// Bound on connecting and subscribing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(clap::Args, Clone, Default)]
#[group(skip)]
pub struct RabbitmqArgs {
    /// The publish queue's RabbitMQ, amqp://user:password@host:port/vhost
    #[arg(
        id = "publish_rabbitmq_server_url",
        env = "PUBLISH_RABBITMQ_SERVER_URL"
    )]
    #[arg(hide_env_values = true, value_parser = setting::text)]
    pub server_url: Option<String>,
    /// Where publishers send (Outpost's setting; accepted, not read)
    #[arg(id = "publish_rabbitmq_exchange", env = "PUBLISH_RABBITMQ_EXCHANGE", value_parser = setting::text)]
    pub exchange: Option<String>,
    /// The RabbitMQ queue the publish requests are consumed from
    #[arg(id = "publish_rabbitmq_queue", env = "PUBLISH_RABBITMQ_QUEUE", value_parser = setting::text)]
    pub queue: Option<String>,
}

/// Without the URL: it carries the password.
impl std::fmt::Debug for RabbitmqArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitmqArgs")
            .field("server_url", &self.server_url.as_ref().map(|_| "(set)"))
            .field("exchange", &self.exchange)
            .field("queue", &self.queue)
            .finish()
    }
}

impl BrokerArgs for RabbitmqArgs {
    fn chosen(&self) -> bool {
        self.server_url.is_some()
    }

    fn variables(&self) -> Vec<(&'static str, bool)> {
        vec![
            (SERVER_URL, self.server_url.is_some()),
            ("PUBLISH_RABBITMQ_EXCHANGE", self.exchange.is_some()),
            (QUEUE, self.queue.is_some()),
        ]
    }
}

impl RabbitmqArgs {
    /// The source the variables name; the error names the variable.
    pub fn source(&self) -> Result<RabbitmqSource, String> {
        let url = self
            .server_url
            .as_deref()
            .ok_or_else(|| format!("{SERVER_URL} is not set"))?;
        let AmqpUrl { login, .. } = parse_amqp_url(url, SERVER_URL)?;
        let queue = self
            .queue
            .clone()
            .ok_or_else(|| format!("{SERVER_URL} is set but {QUEUE} is not: name the queue"))?;
        if queue.len() > 255 {
            return Err(format!("invalid value for {QUEUE}: longer than 255 bytes"));
        }
        RabbitmqSource::new(login, queue)
    }
}

/// Consumes one queue.
pub struct RabbitmqSource {
    login: Login,
    queue: String,
    tls: Option<TlsConnector>,
    /// Any address: the operator names the broker.
    policy: std::sync::Arc<NetworkPolicy>,
    consuming: Option<Consuming>,
    /// Counts connections, so that a receipt from a lost one is not
    /// settled on the next (its delivery tag means nothing there, and the
    /// broker has requeued the message anyway).
    generation: u64,
}

struct Consuming {
    /// Kept open while consuming; dropped, it closes (requeueing every
    /// unacked message).
    _connection: Connection,
    channel: Channel,
    messages: UnboundedReceiver<ConsumerMessage>,
    generation: u64,
}

/// A delivery on one connection.
#[derive(Debug)]
pub struct Receipt {
    generation: u64,
    tag: u64,
}

impl RabbitmqSource {
    pub fn new(login: Login, queue: String) -> Result<RabbitmqSource, String> {
        let tls = match login.tls {
            true => Some(tls_connector().map_err(|e| format!("TLS for {SERVER_URL}: {e}"))?),
            false => None,
        };
        Ok(RabbitmqSource {
            login,
            queue,
            tls,
            policy: super::anywhere(),
            consuming: None,
            generation: 0,
        })
    }

    async fn subscribe(&mut self, prefetch: usize) -> Result<Consuming, SourceError> {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let connection = crate::destinations::rabbitmq::open(
            &self.login,
            &self.policy,
            self.tls.as_ref(),
            deadline,
        )
        .await?;
        let failed = |what: &str, e: amqprs::error::Error| {
            SourceError(format!("RabbitMQ at {}: {what}: {e}", self.login.server()))
        };
        let channel = connection
            .open_channel(None)
            .await
            .map_err(|e| failed("opening a channel", e))?;
        let prefetch = u16::try_from(prefetch).unwrap_or(u16::MAX);
        channel
            .basic_qos(BasicQosArguments::new(0, prefetch, false))
            .await
            .map_err(|e| failed("setting the prefetch", e))?;
        self.generation += 1;
        let tag = format!(
            "outbound-publish-queue-{}-{}",
            std::process::id(),
            self.generation
        );
        let args = BasicConsumeArguments::new(&self.queue, &tag)
            .manual_ack(true)
            .finish();
        let (_, messages) = channel.basic_consume_rx(args).await.map_err(|e| {
            failed(
                &format!("consuming from queue {:?} (does it exist?)", self.queue),
                e,
            )
        })?;
        tracing::info!(queue = %self.queue, server = %self.login.server(), "publish queue: subscribed");
        Ok(Consuming {
            _connection: connection,
            channel,
            messages,
            generation: self.generation,
        })
    }
}

impl Source for RabbitmqSource {
    const LABEL: &'static str = "rabbitmq";
    type Receipt = Receipt;

    fn describe(&self) -> String {
        format!(
            "RabbitMQ queue {:?} on {}{}",
            self.queue,
            self.login.server(),
            self.login.vhost
        )
    }

    async fn receive(&mut self, max: usize) -> Result<Vec<Taken<Receipt>>, SourceError> {
        if !self
            .consuming
            .as_ref()
            .is_some_and(|c| c.channel.is_open() && c.channel.is_connection_open())
        {
            self.consuming = None;
            self.consuming = Some(self.subscribe(max).await?);
        }
        let Some(c) = self.consuming.as_mut() else {
            return Ok(Vec::new());
        };
        let first = match tokio::time::timeout(POLL, c.messages.recv()).await {
            Err(_) => return Ok(Vec::new()),
            Ok(Some(m)) => m,
            Ok(None) => {
                self.consuming = None;
                return Err(SourceError(format!(
                    "RabbitMQ at {} ended the consumer (connection lost, or the queue deleted)",
                    self.login.server()
                )));
            }
        };
        let generation = c.generation;
        let mut taken = Vec::new();
        let mut next = Some(first);
        while let Some(m) = next.take() {
            if let Some(deliver) = m.deliver {
                taken.push(Taken {
                    body: m.content.unwrap_or_default(),
                    message_id: m
                        .basic_properties
                        .as_ref()
                        .and_then(|p| p.message_id())
                        .cloned(),
                    receipt: Receipt {
                        generation,
                        tag: deliver.delivery_tag(),
                    },
                });
            }
            if taken.len() < max {
                next = c.messages.try_recv().ok();
            }
        }
        Ok(taken)
    }

    async fn settle(&mut self, settled: Vec<(Receipt, Settle)>) -> Result<(), SourceError> {
        let Some(c) = self.consuming.as_ref() else {
            // The connection that took them is gone: the broker requeued them.
            return Ok(());
        };
        for (receipt, settle) in settled {
            if receipt.generation != c.generation {
                continue;
            }
            let done = match settle {
                Settle::Done => {
                    c.channel
                        .basic_ack(BasicAckArguments::new(receipt.tag, false))
                        .await
                }
                Settle::Refused => {
                    c.channel
                        .basic_reject(BasicRejectArguments::new(receipt.tag, false))
                        .await
                }
                Settle::Again => {
                    c.channel
                        .basic_reject(BasicRejectArguments::new(receipt.tag, true))
                        .await
                }
            };
            done.map_err(|e| {
                SourceError(format!(
                    "RabbitMQ at {}: settling a message: {e}",
                    self.login.server()
                ))
            })?;
        }
        Ok(())
    }
}
