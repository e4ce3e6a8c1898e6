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
