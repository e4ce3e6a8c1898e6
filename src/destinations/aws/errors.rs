//! What an AWS error answer means for a delivery.
//!
//! AWS says what went wrong twice: an HTTP status, and an error code with a
//! message in the body — JSON (`{"__type": "…#QueueDoesNotExist",
//! "message": …}`) for SQS and Kinesis, XML (`<Error><Code>NoSuchBucket
//! </Code><Message>…`) for S3 — or in a header (`x-amzn-errortype`,
//! SQS's `x-amzn-query-error`). The code decides the attempt's code:
//!
//! - `auth_failed`: the credentials were refused (unknown key, bad
//!   signature, expired token) or do not allow the call (access denied);
//! - `not_found`: the queue, bucket or stream does not exist;
//! - `throttled`: slow down;
//! - otherwise the HTTP status.
//!
//! All of these are retried: a tenant can fix the credentials or create
//! the queue, and the next retry then delivers (a destination that keeps
//! failing is disabled after `ALERT_CONSECUTIVE_FAILURE_COUNT`). Only an
//! answer that this one message can never be stored (`rejected`: S3's
//! `EntityTooLarge`, SQS's `InvalidMessageContents`, a 413, …) ends the
//! delivery at once.
//!
//! The attempt's message is the service's own words, cut at the first
//! blank line (past which AWS prints the canonical request it expected) and
//! with every credential redacted.

use crate::domain::attempt_code::AttemptCode;
use std::time::Duration;

use serde_json::Value;

use super::sign::Credentials;
use crate::destinations::sender::Failure;
use crate::net::http_client::HttpResponse;

/// Codes that mean the credentials are wrong, expired or not allowed.
const AUTH: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "IncompleteSignatureException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "InvalidSecurity",
    "AuthFailure",
    "AccessDenied",
    "AccessDeniedException",
    "KMSAccessDeniedException",
];

/// Codes that mean the queue, bucket or stream does not exist.
const NOT_FOUND: &[&str] = &[
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "NonExistentQueue",
    "NoSuchBucket",
    "ResourceNotFoundException",
];

/// Codes that mean "too fast, come back later".
const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "KMSThrottlingException",
    "RequestLimitExceeded",
    "SlowDown",
];

/// Codes that mean this message can never be stored as it is.
const REJECTED: &[&str] = &[
    "InvalidMessageContents",
    "EntityTooLarge",
    "KeyTooLongError",
    "MetadataTooLarge",
];

/// The longest service message kept in an attempt.
const MAX_MESSAGE: usize = 1000;

/// An error answer's code and message, as the service gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The short code (`QueueDoesNotExist`), or "" when there was none.
    pub code: String,
    /// Every code the answer carried (SQS gives two names for one error).
    pub codes: Vec<String>,
    pub message: String,
}

/// Reads the code and message out of an error answer.
pub fn parse(response: &HttpResponse) -> AwsError {
    let mut codes: Vec<String> = Vec::new();
    let mut message = String::new();
    if let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&response.body) {
        if let Some(t) = body.get("__type").and_then(Value::as_str) {
            codes.push(short_code(t));
        }
        let text = ["message", "Message"]
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_str));
        message = text.unwrap_or_default().to_string();
    } else if let Some(code) = xml_element(&response.body, "Code") {
        codes.push(code);
        message = xml_element(&response.body, "Message").unwrap_or_default();
    }
    if let Some(t) = response.header("x-amzn-errortype") {
        codes.push(short_code(t));
    }
    if let Some(q) = response.header("x-amzn-query-error") {
        codes.push(q.split(';').next().unwrap_or(q).to_string());
    }
    codes.retain(|c| !c.is_empty());
    codes.dedup();
    AwsError {
        code: codes.first().cloned().unwrap_or_default(),
        codes,
        message,
    }
}

/// `com.amazonaws.sqs#QueueDoesNotExist` and
/// `UnrecognizedClientException:http://internal…` are
/// `QueueDoesNotExist` and `UnrecognizedClientException`.
fn short_code(t: &str) -> String {
    let t = t.rsplit('#').next().unwrap_or(t);
    t.split(':').next().unwrap_or(t).trim().to_string()
}

/// The text of the first `<name>…</name>` element, entities decoded.
fn xml_element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// The failure an error answer of `service` (`SQS`, `S3`, `Kinesis`) means.
pub fn failure(service: &str, response: &HttpResponse, credentials: &Credentials) -> Failure {
    let error = parse(response);
    let has = |set: &[&str]| error.codes.iter().any(|c| set.contains(&c.as_str()));
    let status = response.status;
    let (code, permanent) = if has(AUTH) || (error.codes.is_empty() && matches!(status, 401 | 403))
    {
        (AttemptCode::AuthFailed, false)
    } else if has(NOT_FOUND) || status == 404 {
        (AttemptCode::NotFound, false)
    } else if has(THROTTLED) || status == 429 {
        (AttemptCode::Throttled, false)
    } else if has(REJECTED) || status == 413 {
        (AttemptCode::Rejected, true)
    } else {
        (AttemptCode::Http(status), false)
    };
    let said = tidy(&error.message, credentials);
    let message = match (error.code.as_str(), said.as_str()) {
        ("", "") => format!("{service} answered {status}"),
        ("", said) => format!("{service} answered {status}: {said}"),
        (c, "") => format!("{service} answered {status} {c}"),
        (c, said) => format!("{service} answered {status} {c}: {said}"),
    };
    let retry_after = matches!(status, 429 | 503)
        .then_some(response.retry_after)
        .flatten()
        .map(|d| d.min(Duration::from_secs(3600)));
    Failure {
        code,
        message,
        reply: None,
        retry_after,
        permanent,
    }
}

/// A service message fit for the attempt log: its first paragraph, on
/// one line, no credential in it, bounded.
fn tidy(message: &str, credentials: &Credentials) -> String {
    let first = message.split("\n\n").next().unwrap_or_default();
    let line = first.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut clean = credentials.redact(&line);
    if clean.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !clean.is_char_boundary(cut) {
            cut -= 1;
        }
        clean.truncate(cut);
        clean.push('…');
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_string(),
            body_truncated: false,
            retry_after: None,
        }
    }

    fn creds() -> Credentials {
        Credentials::new(
            "AKIAEXAMPLE123",
            "secret-key-value",
            Some("session-token-value"),
        )
    }

    #[test]
    fn sqs_json_errors() {
        let r = response(
            400,
            &[(
                "x-amzn-query-error",
                "AWS.SimpleQueueService.NonExistentQueue;Sender",
            )],
            r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
        );
        let f = failure("SQS", &r, &creds());
        assert_eq!(f.code, "not_found");
        assert!(!f.permanent);
        assert_eq!(
            f.message,
            "SQS answered 400 QueueDoesNotExist: The specified queue does not exist."
        );
    }

    #[test]
    fn auth_errors_never_echo_credentials() {
        let r = response(
            400,
            &[],
            "{\"__type\":\"InvalidSignatureException\",\"message\":\"The request signature we calculated does not match.\\n\\nThe Canonical String for this request should have been\\n'POST /\\nx-amz-security-token:session-token-value'\"}",
        );
        let f = failure("Kinesis", &r, &creds());
        assert_eq!(f.code, "auth_failed");
        assert_eq!(
            f.message,
            "Kinesis answered 400 InvalidSignatureException: The request signature we calculated does not match."
        );
        let r = response(
            403,
            &[],
            "<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id AKIAEXAMPLE123 you provided does not exist in our records.</Message><AWSAccessKeyId>AKIAEXAMPLE123</AWSAccessKeyId></Error>",
        );
        let f = failure("S3", &r, &creds());
        assert_eq!(f.code, "auth_failed");
        assert!(!f.message.contains("AKIAEXAMPLE123"), "{}", f.message);
        assert!(f.message.contains("InvalidAccessKeyId"), "{}", f.message);
        let r = response(
            403,
            &[(
                "x-amzn-errortype",
                "UnrecognizedClientException:http://internal.amazon.com/coral/",
            )],
            "",
        );
        let f = failure("Kinesis", &r, &creds());
        assert_eq!(f.code, "auth_failed");
        assert_eq!(
            f.message,
            "Kinesis answered 403 UnrecognizedClientException"
        );
        assert_eq!(
            failure("S3", &response(403, &[], ""), &creds()).code,
            "auth_failed"
        );
    }

    #[test]
    fn other_codes() {
        let r = response(404, &[], "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>");
        assert_eq!(failure("S3", &r, &creds()).code, "not_found");
        let r = response(
            400,
            &[],
            r#"{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded"}"#,
        );
        assert_eq!(failure("Kinesis", &r, &creds()).code, "throttled");
        let r = response(400, &[], "<Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed size &amp; more</Message></Error>");
        let f = failure("S3", &r, &creds());
        assert_eq!((f.code, f.permanent), (AttemptCode::Rejected, true));
        assert!(f.message.ends_with("size & more"), "{}", f.message);
        let mut r = response(503, &[], "");
        r.retry_after = Some(Duration::from_secs(7));
        let f = failure("SQS", &r, &creds());
        assert_eq!(
            (f.code, f.retry_after),
            (AttemptCode::Http(503), Some(Duration::from_secs(7)))
        );
        assert_eq!(f.message, "SQS answered 503");
        let long = format!("{{\"__type\":\"X\",\"message\":\"{}\"}}", "é".repeat(2000));
        let f = failure("SQS", &response(500, &[], &long), &creds());
        assert!(f.message.len() < MAX_MESSAGE + 50);
    }
}
