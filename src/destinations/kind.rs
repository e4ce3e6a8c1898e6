//! The kinds of destination, as a closed set. A destination's `type` is
//! parsed into a [`DestinationKind`] where it comes in (a request, a stored
//! row), so the rest of the code matches on an enum the compiler checks,
//! never on a type string. Each kind's fields and schema are in
//! [`super::destination_type`].

use std::fmt;

/// What a destination delivers to. The string forms are Outpost's `type`
/// values and are part of the API and of the stored rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    Webhook,
    AwsSqs,
    AwsS3,
    AwsKinesis,
    Rabbitmq,
    GcpPubsub,
    AzureServicebus,
    Kafka,
    Hookdeck,
}

/// A `type` that is not one of [`DestinationKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("type {0:?} is not a destination type")]
pub struct UnknownKind(pub String);

impl DestinationKind {
    /// Every kind, in the order they are listed to clients.
    pub const ALL: [DestinationKind; 9] = [
        DestinationKind::Webhook,
        DestinationKind::AwsSqs,
        DestinationKind::AwsS3,
        DestinationKind::AwsKinesis,
        DestinationKind::Rabbitmq,
        DestinationKind::GcpPubsub,
        DestinationKind::AzureServicebus,
        DestinationKind::Kafka,
        DestinationKind::Hookdeck,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Webhook => "webhook",
            DestinationKind::AwsSqs => "aws_sqs",
            DestinationKind::AwsS3 => "aws_s3",
            DestinationKind::AwsKinesis => "aws_kinesis",
            DestinationKind::Rabbitmq => "rabbitmq",
            DestinationKind::GcpPubsub => "gcp_pubsub",
            DestinationKind::AzureServicebus => "azure_servicebus",
            DestinationKind::Kafka => "kafka",
            DestinationKind::Hookdeck => "hookdeck",
        }
    }

    /// What a destination of this kind delivers to, in a word for lists:
    /// a webhook's host, a queue's URL, a bucket, a stream, an exchange, a
    /// topic. None when the config lacks it.
    pub fn target(self, config: &serde_json::Value) -> Option<String> {
        let field = |k: &str| config.get(k).and_then(serde_json::Value::as_str);
        match self {
            DestinationKind::Webhook => field("url")
                .and_then(|u| u.split("://").nth(1))
                .map(|rest| rest.split('/').next().unwrap_or(rest).to_string()),
            DestinationKind::AwsSqs => field("queue_url").map(String::from),
            DestinationKind::AwsS3 => field("bucket").map(String::from),
            DestinationKind::AwsKinesis => field("stream_name").map(String::from),
            // Outpost shows the exchange, or the server when none is set
            // (the default exchange).
            DestinationKind::Rabbitmq => field("exchange")
                .filter(|e| !e.is_empty())
                .or_else(|| field("server_url"))
                .map(String::from),
            DestinationKind::GcpPubsub | DestinationKind::Kafka => field("topic").map(String::from),
            DestinationKind::AzureServicebus => field("name").map(String::from),
            // The ingest URL is inside the token: nothing to show.
            DestinationKind::Hookdeck => Some("Hookdeck Event Gateway".to_string()),
        }
    }

    /// The URL a destination of this kind is reached at, for kinds that
    /// have one to show (webhooks).
    pub fn target_url(self, config: &serde_json::Value) -> Option<String> {
        match self {
            DestinationKind::Webhook => config
                .get("url")
                .and_then(serde_json::Value::as_str)
                .map(String::from),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Result<DestinationKind, UnknownKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.chars().take(64).collect()))
    }
}

impl AsRef<str> for DestinationKind {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<String> for DestinationKind {
    type Error = UnknownKind;

    fn try_from(s: String) -> Result<Self, UnknownKind> {
        DestinationKind::parse(&s)
    }
}

impl fmt::Display for DestinationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for DestinationKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_name_what_is_delivered_to() {
        let k = DestinationKind::Webhook;
        let config = json!({"url": "https://hooks.example.com/in/1"});
        assert_eq!(k.target(&config).as_deref(), Some("hooks.example.com"));
        assert_eq!(
            k.target_url(&config).as_deref(),
            Some("https://hooks.example.com/in/1")
        );
        let sqs = json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com/1/q"});
        assert_eq!(
            DestinationKind::AwsSqs.target(&sqs).as_deref(),
            Some("https://sqs.eu-west-1.amazonaws.com/1/q")
        );
        assert_eq!(DestinationKind::AwsSqs.target_url(&sqs), None);
        assert_eq!(DestinationKind::AwsS3.target(&json!({})), None);
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in DestinationKind::ALL {
            assert_eq!(DestinationKind::parse(k.as_str()), Ok(k));
        }
        let err = DestinationKind::parse("carrier_pigeon").unwrap_err();
        assert_eq!(
            err.to_string(),
            "type \"carrier_pigeon\" is not a destination type"
        );
    }
}
