//! Why a connection could not be made.

use crate::domain::attempt_code::AttemptCode;

/// A connection that could not be made: the attempt log's code
/// (`dns_error`, `blocked_address`, `connection_refused`, `timeout`, …) and
/// what went wrong, for people. Never a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    pub code: AttemptCode,
    pub message: String,
}

impl ConnectError {
    pub fn new(code: AttemptCode, message: impl Into<String>) -> ConnectError {
        ConnectError {
            code,
            message: message.into(),
        }
    }
}
