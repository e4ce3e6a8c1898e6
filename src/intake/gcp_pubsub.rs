//! The publish queue on GCP Pub/Sub (`PUBLISH_GCP_PUBSUB_*`): REST `pull`
//! on the subscription `PUBLISH_GCP_PUBSUB_SUBSCRIPTION` of project
//! `PUBLISH_GCP_PUBSUB_PROJECT`, with the Pub/Sub destination's OAuth
//! token exchange and cache ([`GcpPubsubSender::bearer`]).
//!
//! The message's `data` (base64) is the publish request. Settling: a
//! published, duplicate or refused message is acknowledged; one to retry
//! gets its ack deadline set to 0 (`modifyAckDeadline`), which makes
//! Pub/Sub deliver it again. A message never settled (a crash) comes back
//! when its ack deadline ends, with the same `messageId`.
//!
//! `PUBLISH_GCP_PUBSUB_TOPIC` is accepted for Outpost's configurations and
//! not read (the subscription names its topic). `PUBSUB_EMULATOR_HOST`,
//! Google's own variable, points the calls at an emulator, which needs no
//! credentials.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::body::Bytes;
use serde_json::{json, Value};

use super::settings::BrokerArgs;
use super::{Settle, Source, SourceError, Taken};
use crate::destinations::gcp_pubsub::key::ServiceAccountKey;
use crate::destinations::gcp_pubsub::send::GcpPubsubSender;
use crate::destinations::gcp_pubsub::target::{endpoint_base, GOOGLE_ENDPOINT};
use crate::destinations::rest;
use crate::destinations::sender::SenderContext;
use crate::domain::setting;
use crate::net::http_client::HttpSender;

const PROJECT: &str = "PUBLISH_GCP_PUBSUB_PROJECT";
const SUBSCRIPTION: &str = "PUBLISH_GCP_PUBSUB_SUBSCRIPTION";
const CREDENTIALS: &str = "PUBLISH_GCP_PUBSUB_SERVICE_ACCOUNT_CREDENTIALS";
const SERVICE: &str = "Pub/Sub";

/// A pull that found nothing is followed by this pause (Pub/Sub's REST
/// pull may answer at once when the subscription is empty).
const IDLE: Duration = Duration::from_secs(1);

#[derive(clap::Args, Clone, Default)]
#[group(skip)]
pub struct PubsubArgs {
    /// Project of the publish queue's Pub/Sub subscription (chooses Pub/Sub as the publish queue)
    #[arg(id = "publish_gcp_pubsub_project", env = "PUBLISH_GCP_PUBSUB_PROJECT", value_parser = setting::text)]
    pub project: Option<String>,
    /// Topic publishers send to (Outpost's setting; accepted, not read)
    #[arg(id = "publish_gcp_pubsub_topic", env = "PUBLISH_GCP_PUBSUB_TOPIC", value_parser = setting::text)]
    pub topic: Option<String>,
    /// The Pub/Sub subscription the publish requests are pulled from
    #[arg(id = "publish_gcp_pubsub_subscription", env = "PUBLISH_GCP_PUBSUB_SUBSCRIPTION", value_parser = setting::text)]
    pub subscription: Option<String>,
    /// Service-account key for the publish queue: its JSON, or the path of a file holding it
    #[arg(
        id = "publish_gcp_pubsub_service_account_credentials",
        env = "PUBLISH_GCP_PUBSUB_SERVICE_ACCOUNT_CREDENTIALS"
    )]
    #[arg(hide_env_values = true, value_parser = setting::text)]
    pub credentials: Option<String>,
    /// A Pub/Sub emulator (host:port) for the publish queue, Google's variable
    #[arg(id = "pubsub_emulator_host", env = "PUBSUB_EMULATOR_HOST", value_parser = setting::text)]
    pub emulator_host: Option<String>,
}

/// Without the key.
impl std::fmt::Debug for PubsubArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubsubArgs")
            .field("project", &self.project)
            .field("topic", &self.topic)
            .field("subscription", &self.subscription)
            .field("emulator_host", &self.emulator_host)
            .field("credentials", &self.credentials.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl BrokerArgs for PubsubArgs {
    fn chosen(&self) -> bool {
        self.project.is_some()
    }

    fn variables(&self) -> Vec<(&'static str, bool)> {
        vec![
            (PROJECT, self.project.is_some()),
            ("PUBLISH_GCP_PUBSUB_TOPIC", self.topic.is_some()),
            (SUBSCRIPTION, self.subscription.is_some()),
            (CREDENTIALS, self.credentials.is_some()),
        ]
    }
}

impl PubsubArgs {
    /// The source the variables name; the error names the variable.
    pub fn source(&self) -> Result<PubsubSource, String> {
        let project = self
            .project
            .clone()
            .ok_or_else(|| format!("{PROJECT} is not set"))?;
        let subscription = self.subscription.clone().ok_or_else(|| {
            format!("{PROJECT} is set but {SUBSCRIPTION} is not: name the subscription")
        })?;
        let endpoint = match &self.emulator_host {
            Some(host) => Some(
                endpoint_base(host)
                    .map_err(|e| format!("invalid value for PUBSUB_EMULATOR_HOST: {e}"))?,
            ),
            None => None,
        };
        let key = match &self.credentials {
            None if endpoint.is_some() => String::new(),
            None => {
                return Err(format!(
                    "{CREDENTIALS} is not set: the publish queue needs a service account key \
                     (implicit credentials are not read)"
                ))
            }
            Some(text) if text.trim_start().starts_with('{') => text.clone(),
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("{CREDENTIALS}: cannot read the file {path:?}: {e}"))?,
        };
        if endpoint.is_none() {
            ServiceAccountKey::parse(&key)
                .map_err(|e| format!("invalid value for {CREDENTIALS}: {e}"))?;
        }
        PubsubSource::new(endpoint, &project, &subscription, key)
    }
}

/// Pulls from one subscription.
pub struct PubsubSource {
    http: HttpSender,
    /// The token exchange and cache.
    tokens: GcpPubsubSender,
    key: String,
    emulator: bool,
    /// `…/v1/projects/<project>/subscriptions/<subscription>`.
    subscription_url: String,
}

impl PubsubSource {
    /// A source on `subscription`; `endpoint` replaces Google's (an
    /// emulator). `key` is the service account key's JSON (may be empty
    /// with an endpoint).
    pub fn new(
        endpoint: Option<String>,
        project: &str,
        subscription: &str,
        key: String,
    ) -> Result<PubsubSource, String> {
        let timeout = Duration::from_secs(60);
        let http = super::http_client(SERVICE, timeout, 16 * 1024 * 1024)?;
        let tokens = GcpPubsubSender::new(&SenderContext {
            http: http.clone(),
            policy: super::anywhere(),
            timeout,
        });
        let base = endpoint.as_deref().unwrap_or(GOOGLE_ENDPOINT);
        Ok(PubsubSource {
            http,
            tokens,
            key,
            emulator: endpoint.is_some(),
            subscription_url: format!("{base}/v1/projects/{project}/subscriptions/{subscription}"),
        })
    }

    /// POSTs `body` to `<subscription>:<verb>`; the answer's JSON.
    async fn call(&self, verb: &str, body: Value) -> Result<Value, SourceError> {
        let url = format!("{}:{verb}", self.subscription_url);
        let body = Bytes::from(body.to_string());
        let mut renew = false;
        loop {
            let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
            if let Some(token) = self.tokens.bearer(&self.key, self.emulator, renew).await? {
                headers.push(("authorization".into(), format!("Bearer {token}")));
            }
            let out = self.http.post(&url, &headers, body.clone()).await;
            let resp = out
                .result
                .map_err(|f| SourceError::from(rest::unreachable(SERVICE, f)))?;
            if resp.status == 401 && !renew && !self.emulator {
                renew = true;
                continue;
            }
            if !resp.is_success() {
                return Err(rest::refused(SERVICE, rest::code_for(resp.status), &resp).into());
            }
            return Ok(serde_json::from_str(&resp.body).unwrap_or(Value::Null));
        }
    }
}

impl Source for PubsubSource {
    const LABEL: &'static str = "gcp_pubsub";
    /// The ack id.
    type Receipt = String;

    fn describe(&self) -> String {
        format!("Pub/Sub subscription {}", self.subscription_url)
    }

    async fn receive(&mut self, max: usize) -> Result<Vec<Taken<String>>, SourceError> {
        let answer = self
            .call("pull", json!({ "maxMessages": max.max(1) }))
            .await?;
        let received = answer["receivedMessages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if received.is_empty() {
            tokio::time::sleep(IDLE).await;
        }
        Ok(received
            .into_iter()
            .filter_map(|r| {
                let ack_id = r["ackId"].as_str()?.to_string();
                let message = &r["message"];
                // Data that is not base64 is handed on as it is: the
                // publish then refuses it as malformed JSON.
                let data = message["data"].as_str().unwrap_or_default();
                let body = STANDARD
                    .decode(data)
                    .unwrap_or_else(|_| data.as_bytes().to_vec());
                Some(Taken {
                    body,
                    message_id: message["messageId"].as_str().map(str::to_string),
                    receipt: ack_id,
                })
            })
            .collect())
    }

    async fn settle(&mut self, settled: Vec<(String, Settle)>) -> Result<(), SourceError> {
        let (again, done): (Vec<_>, Vec<_>) =
            settled.into_iter().partition(|(_, s)| *s == Settle::Again);
        let ids = |v: Vec<(String, Settle)>| v.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        if !done.is_empty() {
            self.call("acknowledge", json!({ "ackIds": ids(done) }))
                .await?;
        }
        if !again.is_empty() {
            self.call(
                "modifyAckDeadline",
                json!({ "ackIds": ids(again), "ackDeadlineSeconds": 0 }),
            )
            .await?;
        }
        Ok(())
    }
}
