//! The one place that knows HTTP status codes. Every error leaves as
//! Outpost's `{status, message, data}`; unexpected errors are logged with
//! their cause chain and answered as an opaque 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub data: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            data: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// 422 with one message per invalid field.
    pub fn validation(errors: Vec<String>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "validation error".into(),
            data: Some(Value::from(errors)),
        }
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            data: Some(Value::from(vec![message.clone()])),
            message,
        }
    }

    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error = %chain, "unexpected error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "status": self.status.as_u16(), "message": self.message });
        if let Some(data) = self.data {
            body["data"] = data;
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    /// The one mapping of store errors to answers.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict { constraint } => ApiError::new(
                StatusCode::CONFLICT,
                format!("already exists ({constraint})"),
            ),
            StoreError::MissingReference { message } => ApiError::unprocessable(message),
            StoreError::Invalid { message } => ApiError::unprocessable(message),
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database unavailable, try again",
                )
            }
            err @ (StoreError::Database(_) | StoreError::Corrupt(_)) => ApiError::internal(&err),
        }
    }
}

/// The problems found in one request, so that a client learns every bad
/// field at once: answered as one 422 with a message per problem.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn push(&mut self, message: impl Into<String>) {
        self.0.push(message.into());
    }

    /// The value, or None with the error noted.
    pub fn take<T, E: std::fmt::Display>(&mut self, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.push(e.to_string())).ok()
    }

    pub fn extend(&mut self, messages: impl IntoIterator<Item = String>) {
        self.0.extend(messages);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok when nothing was wrong, else the 422.
    pub fn check(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }

    /// The 422 for what was noted (for a value that is missing because of it).
    pub fn fail(self) -> ApiError {
        ApiError::validation(self.0)
    }
}
