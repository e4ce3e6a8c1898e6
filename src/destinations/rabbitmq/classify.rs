//! What went wrong, as a code and a message for people.
//!
//! The codes are Outpost's for the same cases (`auth_failed`,
//! `access_denied`, `exchange_not_found`, `connection_forced`,
//! `channel_error`, `rabbitmq_error`) and the delivery module's for the
//! network ones (`connection_refused`, `connection_reset`, `timeout`,
//! `tls_error`, `network_error`). Messages quote the broker's own reply
//! text, which names the exchange or virtual host at fault; never a
//! password.
//!
//! amqprs reports connection failures as text, so some of this reads text.

use crate::domain::attempt_code::AttemptCode;
use amqprs::error::Error;

use super::server::Login;
use crate::destinations::sender::Failure;

/// A failed `Connection::open` to `login`.
pub fn open_failed(err: &Error, login: &Login) -> Failure {
    let server = login.server();
    match err {
        Error::NetworkError(text) => {
            let lower = text.to_ascii_lowercase();
            let (code, message) = if lower.contains("connection refused") {
                (
                    AttemptCode::ConnectionRefused,
                    format!("connecting to {server} failed: connection refused"),
                )
            } else if lower.contains("timed out") {
                (
                    AttemptCode::Timeout,
                    format!("connecting to {server} timed out"),
                )
            } else if ["reset", "peer shutdown", "interrupted", "broken pipe"]
                .iter()
                .any(|w| lower.contains(w))
            {
                // The TCP connection was up (a refused one is refused) and
                // the broker dropped it during the AMQP handshake: that is
                // how RabbitMQ refuses a login — after a 3 s delay, and
                // without a reason, to clients that do not announce the
                // `authentication_failure_close` capability (amqprs does
                // not) — as the AMQP 0-9-1 specification has it.
                (
                    AttemptCode::AuthFailed,
                    format!(
                        "RabbitMQ at {server} dropped the connection at login, which is how it \
                         refuses one: check the username and password, and that user {:?} may \
                         log in",
                        login.username
                    ),
                )
            } else if login.tls && looks_like_tls(&lower) {
                (
                    AttemptCode::TlsError,
                    format!("TLS with {server} failed: {}", strip(text)),
                )
            } else {
                (
                    AttemptCode::NetworkError,
                    format!("connecting to {server} failed: {}", strip(text)),
                )
            };
            Failure::retryable(code, message)
        }
        Error::ConnectionOpenError(text) => match reply(text) {
            // The broker answered the handshake with connection.close,
            // e.g. 530 for a virtual host that does not exist or that the
            // user may not use.
            Some((code, reason)) => closed(code, &reason, "connection"),
            None => Failure::retryable(
                AttemptCode::RabbitmqError,
                format!("RabbitMQ at {server} refused the connection: {text}"),
            ),
        },
        other => amqp_failed(other, "connecting"),
    }
}

/// The broker closed the connection or a channel with `code` and `text`.
pub fn closed(code: u16, text: &str, what: &str) -> Failure {
    let kind = match code {
        403 | 530 => AttemptCode::AccessDenied,
        404 => AttemptCode::ExchangeNotFound,
        320 => AttemptCode::ConnectionForced,
        504 => AttemptCode::ChannelError,
        _ => AttemptCode::RabbitmqError,
    };
    Failure::retryable(kind, format!("RabbitMQ closed the {what} ({code}): {text}"))
}

/// Another amqprs failure, while `doing` something.
pub fn amqp_failed(err: &Error, doing: &str) -> Failure {
    let code = match err {
        Error::NetworkError(_) | Error::InternalChannelError(_) => AttemptCode::ConnectionReset,
        _ => AttemptCode::RabbitmqError,
    };
    Failure::retryable(code, format!("{doing} failed: {err}"))
}

/// rustls' and the handshake's words for a TLS failure.
fn looks_like_tls(lower: &str) -> bool {
    [
        "tls",
        "certificate",
        "corrupt message",
        "handshake",
        "alert",
        "dnsname",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// amqprs' own prefix off an I/O error's text.
fn strip(text: &str) -> &str {
    text.strip_prefix("network io error: ").unwrap_or(text)
}

/// The reply code and text of a `connection.close` in amqprs' rendering of
/// the frame: `… reply_code: 530, reply_text: ShortStr(…, "NOT_ALLOWED - …") …`.
fn reply(text: &str) -> Option<(u16, String)> {
    let after = |key: &str| text.split_once(key).map(|(_, rest)| rest);
    let code: u16 = after("reply_code: ")?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    let reason = after("reply_text: ")
        .and_then(|rest| rest.split_once('"'))
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(reason, _)| reason.to_string())
        .unwrap_or_default();
    Some((code, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(tls: bool) -> Login {
        Login {
            host: "mq.example.com".into(),
            port: 5671,
            tls,
            vhost: "/".into(),
            username: "app".into(),
            password: "s3cret".into(),
        }
    }

    #[test]
    fn connection_failures_get_codes_and_never_the_password() {
        let cases = [
            (
                Error::NetworkError("network io error: Connection refused (os error 111)".into()),
                false,
                "connection_refused",
            ),
            (
                Error::NetworkError(
                    "network io error: Connection reset by peer (os error 104)".into(),
                ),
                false,
                "auth_failed",
            ),
            (
                Error::NetworkError("peer shutdown".into()),
                false,
                "auth_failed",
            ),
            (
                Error::NetworkError(
                    "network io error: invalid peer certificate: UnknownIssuer".into(),
                ),
                true,
                "tls_error",
            ),
            (
                Error::NetworkError(
                    "network io error: received corrupt message of type InvalidContentType".into(),
                ),
                true,
                "tls_error",
            ),
            (
                Error::NetworkError("network io error: something else".into()),
                false,
                "network_error",
            ),
        ];
        for (err, tls, code) in cases {
            let f = open_failed(&err, &login(tls));
            assert_eq!(f.code, code, "{err}");
            assert!(!f.permanent);
            assert!(f.message.contains("mq.example.com:5671"), "{}", f.message);
            assert!(!f.message.contains("s3cret"));
        }
        let f = open_failed(&Error::NetworkError("peer shutdown".into()), &login(false));
        assert!(
            f.message.contains("check the username and password"),
            "{}",
            f.message
        );
    }

    #[test]
    fn broker_replies_become_outposts_codes_with_the_reason() {
        let text = r#"failed to open connection, reason: Close(MethodHeader { class_id: 10, method_id: 50 }, Close { reply_code: 530, reply_text: ShortStr(37, "NOT_ALLOWED - vhost nope not found"), class_id: 10, method_id: 40 })"#;
        let f = open_failed(&Error::ConnectionOpenError(text.into()), &login(false));
        assert_eq!(f.code, "access_denied");
        assert_eq!(
            f.message,
            "RabbitMQ closed the connection (530): NOT_ALLOWED - vhost nope not found"
        );
        let f = closed(404, "NOT_FOUND - no exchange 'x' in vhost '/'", "channel");
        assert_eq!(f.code, "exchange_not_found");
        assert!(f.message.contains("no exchange 'x'"));
        assert_eq!(
            closed(320, "CONNECTION_FORCED", "connection").code,
            "connection_forced"
        );
        assert_eq!(
            closed(403, "ACCESS_REFUSED", "channel").code,
            "access_denied"
        );
        assert_eq!(
            closed(541, "INTERNAL_ERROR", "channel").code,
            "rabbitmq_error"
        );
    }
}
