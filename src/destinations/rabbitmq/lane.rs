//! A lane: a confirm-mode channel used for one exchange, and the senders
//! waiting for its confirms (see [`super::link`] for why and how).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use amqprs::callbacks::ChannelCallback;
use amqprs::channel::{BasicPublishArguments, Channel, ConfirmSelectArguments};
use amqprs::connection::Connection;
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, Nack, Return};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::classify;
use crate::destinations::sender::Failure;
use crate::domain::attempt_code::AttemptCode;

/// One message, ready to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub routing_key: String,
    pub properties: BasicProperties,
    pub body: Vec<u8>,
}

/// A confirm-mode channel used for one exchange.
pub(super) struct Lane {
    channel: Channel,
    /// The next delivery tag; held while a message is numbered and queued.
    sending: Arc<tokio::sync::Mutex<u64>>,
    confirms: Arc<Mutex<Confirms>>,
}

/// The senders waiting for confirms, by delivery tag.
pub(super) struct Confirms {
    waiting: BTreeMap<u64, oneshot::Sender<Result<(), Failure>>>,
    /// Set when the broker closed the channel.
    closed: Option<Failure>,
    last_confirm: Instant,
}

/// A published message's place in line for its confirm.
pub(super) struct Confirm {
    pub(super) tag: u64,
    pub(super) rx: oneshot::Receiver<Result<(), Failure>>,
}

impl Lane {
    pub(super) async fn open(connection: &Connection) -> Result<Arc<Lane>, Failure> {
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

    pub(super) fn usable(&self) -> bool {
        self.channel.is_open() && self.lock().closed.is_none()
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Confirms> {
        self.confirms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers `out` and queues it on the connection.
    pub(super) async fn publish(
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

    pub(super) fn forget(&self, tag: u64) {
        self.lock().waiting.remove(&tag);
    }

    /// No confirm arrived since `t`.
    pub(super) fn silent_since(&self, t: Instant) -> bool {
        self.lock().last_confirm < t
    }
}

/// The channel's events from the broker.
pub(super) struct LaneEvents {
    sending: Arc<tokio::sync::Mutex<u64>>,
    confirms: Arc<Mutex<Confirms>>,
}

impl LaneEvents {
    /// Resolves the waiters for `tag` (and every earlier one if `multiple`).
    pub(super) fn settle(&self, tag: u64, multiple: bool, result: Result<(), Failure>) {
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
