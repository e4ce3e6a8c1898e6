//! What the senders that call a cloud service's REST API share: turning an
//! answer that is not a success, or no answer, into a [`Failure`] with a
//! stable code and the service's own words.
//!
//! Codes: `auth_failed` (401, and 403 where the service means "not allowed"),
//! `not_found` (the topic or queue does not exist), `throttled` (429),
//! `service_unavailable` (5xx), `rejected` (any other refusal), or the
//! network code of the HTTP client (`connection_refused`, `timeout`,
//! `blocked_address`, …). All are retried: credentials get fixed and topics
//! get created while the retries run.

use crate::domain::attempt_code::AttemptCode;
use crate::net::http_client::{HttpFailure, HttpResponse};

use super::sender::Failure;

/// Service error text is cut to this many characters in the attempt log.
const MAX_ERROR_TEXT: usize = 500;

/// The code most services mean by `status`.
pub fn code_for(status: u16) -> AttemptCode {
    match status {
        401 | 403 => AttemptCode::AuthFailed,
        404 | 410 => AttemptCode::NotFound,
        429 => AttemptCode::Throttled,
        500..=599 => AttemptCode::ServiceUnavailable,
        _ => AttemptCode::Rejected,
    }
}

/// A refusal by `service`, with `code`: "Pub/Sub answered 404: Resource not
/// found (resource=orders)."
pub fn refused(service: &str, code: AttemptCode, resp: &HttpResponse) -> Failure {
    let message = match error_text(&resp.body) {
        Some(text) => format!("{service} answered {}: {text}", resp.status),
        None => format!("{service} answered {}", resp.status),
    };
    Failure {
        // "Come back later" only means that on these.
        retry_after: matches!(resp.status, 429 | 503)
            .then_some(resp.retry_after)
            .flatten(),
        ..Failure::retryable(code, message)
    }
}

/// No answer from `service`: the HTTP client's code and what went wrong.
pub fn unreachable(service: &str, failure: HttpFailure) -> Failure {
    Failure::retryable(failure.code, format!("{service}: {}", failure.detail))
}

/// The human part of a service's error body: Google's
/// `{"error": {"message": …}}`, OAuth's `{"error": …, "error_description": …}`,
/// Azure's `<Error><Detail>…</Detail></Error>`, or short plain text.
pub fn error_text(body: &str) -> Option<String> {
    let body = body.trim();
    if body.is_empty() {
        return None;
    }
    let text = if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let s = |v: &serde_json::Value| v.as_str().map(str::to_string);
        s(&json["error"]["message"])
            .or_else(
                || match (s(&json["error"]), s(&json["error_description"])) {
                    (Some(e), Some(d)) => Some(format!("{e}: {d}")),
                    (e, d) => e.or(d),
                },
            )
            .or_else(|| s(&json["message"]))
            .unwrap_or_else(|| body.to_string())
    } else if let Some(detail) = between(body, "<Detail>", "</Detail>") {
        detail.to_string()
    } else {
        body.to_string()
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(match text.char_indices().nth(MAX_ERROR_TEXT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    })
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = start + text[start..].find(close)?;
    Some(&text[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_error_bodies_are_read_for_their_message() {
        let google = r#"{"error": {"code": 404, "message": "Resource not found (resource=t).", "status": "NOT_FOUND"}}"#;
        assert_eq!(
            error_text(google).unwrap(),
            "Resource not found (resource=t)."
        );
        let oauth = r#"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#;
        assert_eq!(
            error_text(oauth).unwrap(),
            "invalid_grant: Invalid JWT Signature."
        );
        let azure = "<Error><Code>401</Code><Detail>InvalidSignature: The token has an invalid signature.</Detail></Error>";
        assert_eq!(
            error_text(azure).unwrap(),
            "InvalidSignature: The token has an invalid signature."
        );
        assert_eq!(error_text("  bad\n gateway ").unwrap(), "bad gateway");
        assert_eq!(error_text(""), None);
        let long = "x".repeat(2000);
        assert_eq!(
            error_text(&long).unwrap().chars().count(),
            MAX_ERROR_TEXT + 1
        );
    }
}
