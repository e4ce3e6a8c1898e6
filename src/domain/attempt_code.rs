//! The attempt log's one vocabulary: what became of an attempt, as the
//! `code` column stores it and the API shows it.
//!
//! An answer is its HTTP status (`"200"`, `"503"`); everything else is a
//! word from this closed list. Senders, the transport, the recorder, the
//! counters and the SQL that ends deliveries all speak it; a string appears
//! only at the wire (the API, the counters' labels) and in SQL.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptCode {
    /// The receiver's HTTP status.
    Http(u16),
    /// Accepted by a destination that has no HTTP status to show (a queue,
    /// a broker).
    Delivered,

    // No answer at all: what the circuit breaker counts.
    /// No answer within `DELIVERY_TIMEOUT_SECONDS`.
    Timeout,
    DnsError,
    ConnectionRefused,
    /// The connection broke before an answer (reset, closed mid-request).
    ConnectionReset,
    TlsError,
    /// Any other transport failure.
    NetworkError,

    // Refused before anything was sent, or by the destination's service.
    /// The SSRF guard refused every address the host resolved to.
    BlockedAddress,
    /// The destination's settings cannot make a request.
    InvalidDestinationConfig,
    /// This build cannot deliver the destination's type.
    UnsupportedDestinationType,
    /// The message could not be built from the event (a header the broker
    /// refuses, a key template that failed).
    InvalidMessage,
    /// The URL could not be used.
    InvalidUrl,
    /// A header name or value is not valid HTTP.
    InvalidRequest,
    /// The service answered something that is not its protocol.
    InvalidResponse,
    /// The credentials were refused.
    AuthFailed,
    /// Logged in, but not allowed to do this (AMQP 403).
    AccessDenied,
    /// The queue, topic, bucket or stream does not exist.
    NotFound,
    /// The Kafka topic does not exist (or its name is refused).
    TopicNotFound,
    /// Kafka refused the record as too large.
    MessageTooLarge,
    /// Too many requests.
    Throttled,
    /// A cloud service's 5xx.
    ServiceUnavailable,
    /// Refused for another reason.
    Rejected,
    /// The RabbitMQ exchange does not exist (AMQP 404).
    ExchangeNotFound,
    /// The broker closed the connection on purpose (AMQP 320: shutting
    /// down, or an operator closed it).
    ConnectionForced,
    /// An AMQP channel error the broker named.
    ChannelError,
    /// A broker error without a better word.
    RabbitmqError,
    KafkaError,
    /// The destination's payload transformation failed (its error, its
    /// output, its time or memory): nothing was sent.
    TransformFailed,

    // Ended without an attempt, by SQL (the API shows them like any code).
    /// Still waiting when its event reached the retention.
    Expired,
    /// Held while its destination was disabled, and discarded on enable.
    Discarded,
}

impl AttemptCode {
    /// Every word of the vocabulary (not the HTTP statuses).
    pub const WORDS: [AttemptCode; 30] = [
        AttemptCode::Delivered,
        AttemptCode::Timeout,
        AttemptCode::DnsError,
        AttemptCode::ConnectionRefused,
        AttemptCode::ConnectionReset,
        AttemptCode::TlsError,
        AttemptCode::NetworkError,
        AttemptCode::BlockedAddress,
        AttemptCode::InvalidDestinationConfig,
        AttemptCode::UnsupportedDestinationType,
        AttemptCode::InvalidMessage,
        AttemptCode::InvalidUrl,
        AttemptCode::InvalidRequest,
        AttemptCode::InvalidResponse,
        AttemptCode::AuthFailed,
        AttemptCode::AccessDenied,
        AttemptCode::NotFound,
        AttemptCode::TopicNotFound,
        AttemptCode::MessageTooLarge,
        AttemptCode::Throttled,
        AttemptCode::ServiceUnavailable,
        AttemptCode::Rejected,
        AttemptCode::ExchangeNotFound,
        AttemptCode::ConnectionForced,
        AttemptCode::ChannelError,
        AttemptCode::RabbitmqError,
        AttemptCode::KafkaError,
        AttemptCode::TransformFailed,
        AttemptCode::Expired,
        AttemptCode::Discarded,
    ];

    /// The word stored and shown; None for an HTTP status.
    pub fn word(self) -> Option<&'static str> {
        Some(match self {
            AttemptCode::Http(_) => return None,
            AttemptCode::Delivered => "delivered",
            AttemptCode::Timeout => "timeout",
            AttemptCode::DnsError => "dns_error",
            AttemptCode::ConnectionRefused => "connection_refused",
            AttemptCode::ConnectionReset => "connection_reset",
            AttemptCode::TlsError => "tls_error",
            AttemptCode::NetworkError => "network_error",
            AttemptCode::BlockedAddress => "blocked_address",
            AttemptCode::InvalidDestinationConfig => "invalid_destination_config",
            AttemptCode::UnsupportedDestinationType => "unsupported_destination_type",
            AttemptCode::InvalidMessage => "invalid_message",
            AttemptCode::InvalidUrl => "invalid_url",
            AttemptCode::InvalidRequest => "invalid_request",
            AttemptCode::InvalidResponse => "invalid_response",
            AttemptCode::AuthFailed => "auth_failed",
            AttemptCode::AccessDenied => "access_denied",
            AttemptCode::NotFound => "not_found",
            AttemptCode::TopicNotFound => "topic_not_found",
            AttemptCode::MessageTooLarge => "message_too_large",
            AttemptCode::Throttled => "throttled",
            AttemptCode::ServiceUnavailable => "service_unavailable",
            AttemptCode::Rejected => "rejected",
            AttemptCode::ExchangeNotFound => "exchange_not_found",
            AttemptCode::ConnectionForced => "connection_forced",
            AttemptCode::ChannelError => "channel_error",
            AttemptCode::RabbitmqError => "rabbitmq_error",
            AttemptCode::KafkaError => "kafka_error",
            AttemptCode::TransformFailed => "transform_failed",
            AttemptCode::Expired => "expired",
            AttemptCode::Discarded => "discarded",
        })
    }

    /// The code as the log stores it: the word, or the status's digits.
    pub fn as_string(self) -> String {
        match self {
            AttemptCode::Http(status) => status.to_string(),
            word => word.word().unwrap_or_default().to_string(),
        }
    }

    /// Reads a stored code; None for a text that is neither a word nor a
    /// status.
    pub fn parse(text: &str) -> Option<AttemptCode> {
        if let Ok(status) = text.parse::<u16>() {
            return Some(AttemptCode::Http(status));
        }
        AttemptCode::WORDS
            .into_iter()
            .find(|c| c.word() == Some(text))
    }

    /// The attempt got no answer at all (what the circuit breaker counts).
    /// An HTTP error status is an answer (the endpoint is up and quick to
    /// say no), and so is anything a sender reports after talking to the
    /// service.
    pub fn unanswered(self) -> bool {
        matches!(
            self,
            AttemptCode::Timeout
                | AttemptCode::ConnectionRefused
                | AttemptCode::ConnectionReset
                | AttemptCode::DnsError
                | AttemptCode::TlsError
                | AttemptCode::NetworkError
        )
    }
}

impl fmt::Display for AttemptCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptCode::Http(status) => write!(f, "{status}"),
            word => f.write_str(word.word().unwrap_or_default()),
        }
    }
}

impl PartialEq<&str> for AttemptCode {
    fn eq(&self, other: &&str) -> bool {
        match self {
            AttemptCode::Http(status) => other.parse::<u16>().ok() == Some(*status),
            word => word.word() == Some(*other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_itself() {
        for code in AttemptCode::WORDS
            .into_iter()
            .chain([AttemptCode::Http(503)])
        {
            assert_eq!(AttemptCode::parse(&code.as_string()), Some(code), "{code}");
        }
        assert_eq!(AttemptCode::parse("nonsense"), None);
        let words: std::collections::HashSet<_> =
            AttemptCode::WORDS.iter().map(|c| c.word()).collect();
        assert_eq!(words.len(), AttemptCode::WORDS.len(), "words are unique");
    }

    #[test]
    fn only_silence_is_unanswered() {
        assert!(AttemptCode::Timeout.unanswered());
        assert!(AttemptCode::ConnectionRefused.unanswered());
        assert!(!AttemptCode::Http(500).unanswered());
        assert!(!AttemptCode::AuthFailed.unanswered());
        assert!(!AttemptCode::BlockedAddress.unanswered());
    }
}
