//! Store errors: what went wrong in terms a caller can act on.

use tokio_postgres::error::SqlState;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the row (`constraint` names it).
    #[error("already exists ({constraint})")]
    Conflict { constraint: String },
    /// A referenced row does not exist, e.g. an event for an unknown tenant.
    #[error("{message}")]
    MissingReference { message: String },
    /// A CHECK constraint or a type refused the input.
    #[error("invalid input: {message}")]
    Invalid { message: String },
    /// No such row; names what was looked for (`"destination"`).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A stored value the domain refuses, e.g. an id written by hand around
    /// the schema's format checks.
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    /// The database could not be reached or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {}", describe(.0))]
    Database(tokio_postgres::Error),
}

/// The server's own words when it sent an error (tokio-postgres's Display
/// says only "db error"), with its detail and hint.
fn describe(err: &tokio_postgres::Error) -> String {
    let Some(db) = err.as_db_error() else {
        return err.to_string();
    };
    let mut text = format!("{} ({})", db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        text.push_str(&format!("; {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("; hint: {hint}"));
    }
    text
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        let Some(db) = err.as_db_error() else {
            // No server error: either the connection is gone or never came
            // up (I/O, closed, timed out), or we sent something wrong.
            let io = std::error::Error::source(&err).is_some_and(|s| s.is::<std::io::Error>());
            let text = err.to_string();
            if err.is_closed()
                || io
                || text.starts_with("error connecting")
                || text.contains("timeout")
            {
                return StoreError::Unavailable(text);
            }
            return StoreError::Database(err);
        };
        let code = db.code();
        if code == &SqlState::UNIQUE_VIOLATION {
            StoreError::Conflict {
                constraint: db.constraint().unwrap_or("unique").to_string(),
            }
        } else if code == &SqlState::FOREIGN_KEY_VIOLATION {
            StoreError::MissingReference {
                message: db.message().to_string(),
            }
        } else if code == &SqlState::CHECK_VIOLATION
            || code == &SqlState::NOT_NULL_VIOLATION
            || code.code().starts_with("22")
        {
            // class 22: data exceptions (bad JSON, out-of-range values, ...)
            let message = match db.constraint() {
                Some(c) => format!("{} ({c})", db.message()),
                None => db.message().to_string(),
            };
            StoreError::Invalid { message }
        } else if code == &SqlState::STATEMENT_TOO_COMPLEX {
            // "stack depth limit exceeded": Postgres' recursive JSON parser
            // on input nested tens of thousands of levels deep.
            StoreError::Invalid {
                message: "the input is nested too deeply for the database to read".into(),
            }
        } else if code == &SqlState::ADMIN_SHUTDOWN
            || code == &SqlState::CRASH_SHUTDOWN
            || code == &SqlState::CANNOT_CONNECT_NOW
            || code.code().starts_with("08")
        {
            StoreError::Unavailable(db.message().to_string())
        } else {
            StoreError::Database(err)
        }
    }
}

impl From<crate::domain::ids::IdError> for StoreError {
    fn from(err: crate::domain::ids::IdError) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

impl From<crate::destinations::kind::UnknownKind> for StoreError {
    fn from(err: crate::destinations::kind::UnknownKind) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}
