//! Kafka errors as attempt failures: a code Outpost users know
//! (`auth_failed`, `topic_not_found`, `message_too_large`, `tls_error`,
//! `timeout`, `kafka_error`, or the connection codes of `net.rs`), the
//! client's or broker's own words as the message, and whether the
//! connection is worth keeping.
//!
//! The client reports connection-stage problems (TLS, SASL) as text nested
//! in its retry errors rather than as types one can match, so those are
//! told apart by what the text says, as Outpost does with kafka-go's.

use crate::domain::attempt_code::AttemptCode;
use rskafka::client::error::{Error as ClientError, ProtocolError};

use super::record::Settings;
use crate::destinations::sender::Failure;

/// A failure, and whether the connection behind it should be rebuilt.
pub struct Classified {
    pub failure: Failure,
    /// The brokers or the connection misbehaved: start afresh next time.
    pub rebuild: bool,
}

/// `err` from talking to the cluster of `s`.
pub fn classify(err: &ClientError, s: &Settings<'_>) -> Classified {
    if let ClientError::ServerError {
        protocol_error,
        error_message,
        ..
    } = err
    {
        return server_error(protocol_error, error_message.as_deref(), s);
    }
    connection_error(&err.to_string(), s)
}

/// The cluster's metadata does not list the topic of `s`.
pub fn unknown_topic(s: &Settings<'_>) -> Classified {
    server_error(&ProtocolError::UnknownTopicOrPartition, None, s)
}

/// An error the broker answered with.
fn server_error(err: &ProtocolError, message: Option<&str>, s: &Settings<'_>) -> Classified {
    let said = message
        .filter(|m| !m.is_empty())
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let topic = s.topic;
    let (code, text, permanent, rebuild) = match err {
        ProtocolError::UnknownTopicOrPartition => (
            AttemptCode::TopicNotFound,
            format!("the brokers have no topic {topic:?}{said}"),
            false,
            false,
        ),
        ProtocolError::InvalidTopicException => (
            AttemptCode::TopicNotFound,
            format!("the brokers refused the topic name {topic:?}{said}"),
            true,
            false,
        ),
        ProtocolError::MessageTooLarge | ProtocolError::RecordListTooLarge => (
            AttemptCode::MessageTooLarge,
            format!("the brokers refused the record as too large for {topic:?}{said}"),
            // The same record will never fit.
            true,
            false,
        ),
        ProtocolError::TopicAuthorizationFailed
        | ProtocolError::ClusterAuthorizationFailed
        | ProtocolError::SaslAuthenticationFailed => (
            AttemptCode::AuthFailed,
            format!(
                "user {:?} may not produce to {topic:?} ({err:?}){said}",
                s.username
            ),
            false,
            true,
        ),
        other => (
            AttemptCode::KafkaError,
            format!("the broker answered {other:?}{said}"),
            false,
            true,
        ),
    };
    Classified {
        failure: Failure {
            permanent,
            ..Failure::retryable(code, text)
        },
        rebuild,
    }
}

/// A failure to connect, authenticate or talk: always rebuilt.
fn connection_error(text: &str, s: &Settings<'_>) -> Classified {
    let lower = text.to_ascii_lowercase();
    let (code, message) = if lower.contains("sasl") || lower.contains("authentication") {
        (
            AttemptCode::AuthFailed,
            format!(
                "the brokers refused the {} login of user {:?}: {}",
                s.mechanism.name(),
                s.username,
                innermost(text)
            ),
        )
    } else if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("invalid dns name")
    {
        (
            AttemptCode::TlsError,
            format!("TLS with the brokers failed: {}", innermost(text)),
        )
    } else if lower.contains("connection refused") {
        (AttemptCode::ConnectionRefused, innermost(text).to_string())
    } else if lower.contains("connection reset") || lower.contains("broken pipe") {
        (AttemptCode::ConnectionReset, innermost(text).to_string())
    } else {
        (AttemptCode::KafkaError, text.to_string())
    };
    Classified {
        failure: Failure::retryable(code, scrub(message, s.password)),
        rebuild: true,
    }
}

/// The most specific part of a nested error text: the client writes
/// "all retries failed: Retry exceeded deadline. Source: error connecting
/// to broker …: Sasl handshake failed: …"; the broker and the reason are
/// at the end.
fn innermost(text: &str) -> &str {
    text.find("error connecting to broker")
        .map(|i| &text[i..])
        .unwrap_or(text)
}

/// Never let a password through, whatever a library chose to print.
/// (Very short passwords are left alone: replacing every "a" would make
/// the message unreadable and hide nothing.)
pub fn scrub(message: String, password: &str) -> String {
    if password.len() >= 4 && message.contains(password) {
        message.replace(password, "***")
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::Mechanism;
    use super::*;

    fn settings() -> Settings<'static> {
        Settings {
            brokers: vec![],
            topic: "orders",
            tls: false,
            mechanism: Mechanism::ScramSha256,
            template: None,
            username: "app",
            password: "hunter2-secret",
        }
    }

    #[test]
    fn broker_answers_get_outposts_codes() {
        let s = settings();
        let c = server_error(&ProtocolError::UnknownTopicOrPartition, None, &s);
        assert_eq!(c.failure.code, "topic_not_found");
        assert!(c.failure.message.contains("\"orders\""));
        assert!(!c.failure.permanent && !c.rebuild);
        let c = server_error(&ProtocolError::MessageTooLarge, Some("limit 1 MB"), &s);
        assert_eq!(c.failure.code, "message_too_large");
        assert!(c.failure.permanent);
        assert!(c.failure.message.ends_with(": limit 1 MB"));
        let c = server_error(&ProtocolError::TopicAuthorizationFailed, None, &s);
        assert_eq!(c.failure.code, "auth_failed");
        let c = server_error(&ProtocolError::NotLeaderOrFollower, None, &s);
        assert_eq!(c.failure.code, "kafka_error");
        assert!(c.rebuild);
    }

    #[test]
    fn connection_texts_are_told_apart_and_never_carry_the_password() {
        let s = settings();
        let sasl = "Connection error: all retries failed: Retry exceeded deadline. Source: error connecting to broker \"b:9092\": Sasl handshake failed: Sasl session error: hunter2-secret";
        let c = connection_error(sasl, &s);
        assert_eq!(c.failure.code, "auth_failed");
        assert!(c.failure.message.starts_with(
            "the brokers refused the SCRAM-SHA-256 login of user \"app\": error connecting to broker"
        ));
        assert!(!c.failure.message.contains("hunter2-secret"));
        let tls = "error connecting to broker \"b:9092\": IO Error: invalid peer certificate: UnknownIssuer";
        assert_eq!(connection_error(tls, &s).failure.code, "tls_error");
        let refused =
            "error connecting to broker \"b:9092\": IO Error: Connection refused (os error 111)";
        assert_eq!(
            connection_error(refused, &s).failure.code,
            "connection_refused"
        );
        assert_eq!(connection_error("odd", &s).failure.code, "kafka_error");
        assert_eq!(
            scrub("pw abc".into(), "abc"),
            "pw abc",
            "too short to scrub"
        );
    }
}
