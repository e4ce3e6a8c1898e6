//! The publish queue on Azure Service Bus (`PUBLISH_AZURE_SERVICEBUS_*`):
//! peek-lock receives over REST from subscription
//! `PUBLISH_AZURE_SERVICEBUS_SUBSCRIPTION` of topic
//! `PUBLISH_AZURE_SERVICEBUS_TOPIC`, authorized with a Shared Access
//! Signature from the connection string (the Service Bus destination's
//! [`ConnectionString`]).
//!
//! A receive is `POST …/messages/head?timeout=<s>`: 201 with a locked
//! message (its body is the publish request; `BrokerProperties` carries
//! its `MessageId`; `Location` is the lock's URL), 204 when none came.
//! Settling: a published, duplicate or refused message is completed
//! (`DELETE` on the lock); one to retry is unlocked (`PUT` on the lock),
//! which counts a delivery: past the subscription's `MaxDeliveryCount`,
//! Service Bus dead-letters it. A message never settled (a crash) is
//! delivered again when its lock expires, with the same `MessageId`.

use std::time::Duration;

use chrono::Utc;
use hyper::body::Bytes;
use hyper::Method;
use serde_json::Value;

use super::settings::BrokerArgs;
use super::{Settle, Source, SourceError, Taken};
use crate::destinations::azure_servicebus::connection::ConnectionString;
use crate::destinations::rest;
use crate::domain::setting;
use crate::net::http_client::{HttpResponse, HttpSender};

const CONNECTION: &str = "PUBLISH_AZURE_SERVICEBUS_CONNECTION_STRING";
const TOPIC: &str = "PUBLISH_AZURE_SERVICEBUS_TOPIC";
const SUBSCRIPTION: &str = "PUBLISH_AZURE_SERVICEBUS_SUBSCRIPTION";
const SERVICE: &str = "Service Bus";

/// How long the first receive of a round waits for a message.
pub const WAIT_SECONDS: u64 = 20;
/// A receive that found nothing is followed by this pause.
const IDLE: Duration = Duration::from_secs(1);
/// How long a signed request stays valid.
const TOKEN_LIFETIME_SECS: i64 = 3600;

#[derive(clap::Args, Clone, Default)]
#[group(skip)]
pub struct ServiceBusArgs {
    /// Connection string of the publish queue's Service Bus namespace
    #[arg(
        id = "publish_azure_servicebus_connection_string",
        env = "PUBLISH_AZURE_SERVICEBUS_CONNECTION_STRING"
    )]
    #[arg(hide_env_values = true, value_parser = setting::text)]
    pub connection_string: Option<String>,
    /// Service Bus topic of the publish queue
    #[arg(id = "publish_azure_servicebus_topic", env = "PUBLISH_AZURE_SERVICEBUS_TOPIC", value_parser = setting::text)]
    pub topic: Option<String>,
    /// Service Bus subscription the publish requests are received from
    #[arg(
        id = "publish_azure_servicebus_subscription",
        env = "PUBLISH_AZURE_SERVICEBUS_SUBSCRIPTION",
        value_parser = setting::text
    )]
    pub subscription: Option<String>,
}

/// Without the connection string: it carries the key.
impl std::fmt::Debug for ServiceBusArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBusArgs")
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "(set)"),
            )
            .field("topic", &self.topic)
            .field("subscription", &self.subscription)
            .finish()
    }
}

impl BrokerArgs for ServiceBusArgs {
    /// All three, as Outpost.
    fn chosen(&self) -> bool {
        self.connection_string.is_some() && self.topic.is_some() && self.subscription.is_some()
    }

    fn variables(&self) -> Vec<(&'static str, bool)> {
        vec![
            (CONNECTION, self.connection_string.is_some()),
            (TOPIC, self.topic.is_some()),
            (SUBSCRIPTION, self.subscription.is_some()),
        ]
    }
}

impl ServiceBusArgs {
    /// The source the variables name; the error names the variable.
    pub fn source(&self) -> Result<ServiceBusSource, String> {
        let missing = |name: &str| format!("{name} is not set");
        let text = self
            .connection_string
            .as_deref()
            .ok_or_else(|| missing(CONNECTION))?;
        let connection = ConnectionString::parse(text)
            .map_err(|e| format!("invalid value for {CONNECTION}: {e}"))?;
        let topic = self.topic.as_deref().ok_or_else(|| missing(TOPIC))?;
        let subscription = self
            .subscription
            .as_deref()
            .ok_or_else(|| missing(SUBSCRIPTION))?;
        ServiceBusSource::new(connection, topic, subscription, WAIT_SECONDS)
    }
}

/// Receives from one subscription.
pub struct ServiceBusSource {
    http: HttpSender,
    connection: ConnectionString,
    /// `<base>/<topic>`: what the SAS signs.
    resource: String,
    /// `<base>/<topic>/subscriptions/<subscription>`.
    subscription_url: String,
    wait_seconds: u64,
}

impl ServiceBusSource {
    /// A source on `topic`'s `subscription`; the first receive of a round
    /// waits up to `wait_seconds` for a message.
    pub fn new(
        connection: ConnectionString,
        topic: &str,
        subscription: &str,
        wait_seconds: u64,
    ) -> Result<ServiceBusSource, String> {
        // A Premium namespace's messages reach 100 MiB; the publish
        // request is refused past its own bound anyway.
        let timeout = Duration::from_secs(wait_seconds + 10);
        let http = super::http_client(SERVICE, timeout, 4 * 1024 * 1024)?;
        let resource = format!("{}/{topic}", connection.base_url());
        Ok(ServiceBusSource {
            http,
            subscription_url: format!("{resource}/subscriptions/{subscription}"),
            resource,
            connection,
            wait_seconds,
        })
    }

    async fn request(&self, method: Method, url: &str) -> Result<HttpResponse, SourceError> {
        let expiry = Utc::now().timestamp() + TOKEN_LIFETIME_SECS;
        let headers = vec![(
            "authorization".to_string(),
            self.connection.authorization(&self.resource, expiry),
        )];
        let out = self.http.request(method, url, &headers, Bytes::new()).await;
        let resp = out
            .result
            .map_err(|f| SourceError::from(rest::unreachable(SERVICE, f)))?;
        if !resp.is_success() {
            return Err(rest::refused(SERVICE, rest::code_for(resp.status), &resp).into());
        }
        Ok(resp)
    }

    /// One peek-lock receive; None when no message came within `wait`.
    async fn receive_one(&self, wait: u64) -> Result<Option<Taken<String>>, SourceError> {
        let url = format!("{}/messages/head?timeout={wait}", self.subscription_url);
        let resp = self.request(Method::POST, &url).await?;
        if resp.status == 204 {
            return Ok(None);
        }
        let properties: Value = resp
            .header("brokerproperties")
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or(Value::Null);
        let lock = match resp.header("location") {
            Some(l) => l.to_string(),
            // Without a Location, the lock's URL from its parts.
            None => match (
                properties["SequenceNumber"].as_u64(),
                properties["LockToken"].as_str(),
            ) {
                (Some(seq), Some(token)) => {
                    format!("{}/messages/{seq}/{token}", self.subscription_url)
                }
                _ => {
                    return Err(SourceError(format!(
                        "{SERVICE} answered a receive without the message's lock"
                    )))
                }
            },
        };
        Ok(Some(Taken {
            body: resp.body.into_bytes(),
            message_id: properties["MessageId"].as_str().map(str::to_string),
            receipt: lock,
        }))
    }
}

impl Source for ServiceBusSource {
    const LABEL: &'static str = "azure_servicebus";
    /// The lock's URL.
    type Receipt = String;

    fn describe(&self) -> String {
        format!("Service Bus subscription {}", self.subscription_url)
    }

    /// The first message waits; the rest of the round takes only what is
    /// already there.
    async fn receive(&mut self, max: usize) -> Result<Vec<Taken<String>>, SourceError> {
        let mut taken = Vec::new();
        let mut wait = self.wait_seconds;
        while taken.len() < max {
            match self.receive_one(wait).await? {
                Some(t) => taken.push(t),
                None => break,
            }
            wait = 0;
        }
        if taken.is_empty() {
            // Service Bus holds an empty receive for its timeout; this
            // pause only matters if something answers at once.
            tokio::time::sleep(IDLE).await;
        }
        Ok(taken)
    }

    async fn settle(&mut self, settled: Vec<(String, Settle)>) -> Result<(), SourceError> {
        for (lock, settle) in settled {
            let method = match settle {
                Settle::Done | Settle::Refused => Method::DELETE,
                Settle::Again => Method::PUT,
            };
            self.request(method, &lock).await?;
        }
        Ok(())
    }
}
