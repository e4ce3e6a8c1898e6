//! AWS Signature Version 4, by the `aws-sigv4` crate: a request is signed
//! just before it is sent, over the headers it will carry, and the
//! signature headers (`authorization`, `x-amz-date`, the session token,
//! S3's `x-amz-content-sha256`) are added to it.
//!
//! The `host` header is signed from the URL (without a default port), which
//! is also what the HTTP client sends; the client adds `user-agent` and
//! `content-length` after signing, and SigV4 signs neither.

use std::fmt;
use std::time::SystemTime;

use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use serde_json::Value;

/// An access key, its secret and, for temporary credentials, the session
/// token. `Debug` shows none of them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    key: String,
    secret: String,
    session: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(****)")
    }
}

impl Credentials {
    pub fn new(key: &str, secret: &str, session: Option<&str>) -> Credentials {
        Credentials {
            key: key.to_string(),
            secret: secret.to_string(),
            session: session.filter(|s| !s.is_empty()).map(str::to_string),
        }
    }

    /// A destination's `credentials` (`key`, `secret`, optional `session`).
    pub fn from_destination(credentials: &Value) -> Option<Credentials> {
        let field = |k: &str| {
            credentials
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        Some(Credentials::new(
            field("key")?,
            field("secret")?,
            field("session"),
        ))
    }

    /// `text` with every credential in it replaced by `****`: what a
    /// service echoes back (a canonical request, a key id) must not reach
    /// the attempt log.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in [Some(&self.secret), self.session.as_ref(), Some(&self.key)]
            .into_iter()
            .flatten()
            .filter(|s| s.len() >= 4)
        {
            out = out.replace(secret.as_str(), "****");
        }
        out
    }
}

/// What differs between the services' signing: S3 signs its path as sent
/// (not normalised, encoded once) and carries the payload hash in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Standard,
    S3,
}

/// One request to sign.
#[derive(Debug)]
pub struct Unsigned<'a> {
    /// The signing name: `sqs`, `s3`, `kinesis`.
    pub service: &'a str,
    pub region: &'a str,
    pub method: &'a str,
    /// Already percent-encoded.
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub flavor: Flavor,
}

/// The headers to add to `request` so that AWS accepts it as signed at
/// `at` with `credentials`. Fails only on a request that cannot be signed
/// (an unparsable URL, a header value that is not text).
pub fn signature_headers(
    request: &Unsigned<'_>,
    credentials: &Credentials,
    at: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity = aws_credential_types::Credentials::new(
        credentials.key.clone(),
        credentials.secret.clone(),
        credentials.session.clone(),
        None,
        "destination",
    )
    .into();
    let mut settings = SigningSettings::default();
    if request.flavor == Flavor::S3 {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(request.region)
        .name(request.service)
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url,
        request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let (headers, _query) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The "get-vanilla" case of AWS's SigV4 test suite: the same key,
    /// time, region and service give the published signature.
    #[test]
    fn matches_the_aws_test_suite() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
        );
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 20150830T123600Z
        let headers = signature_headers(
            &Unsigned {
                service: "service",
                region: "us-east-1",
                method: "GET",
                url: "https://example.amazonaws.com/",
                headers: &[],
                body: b"",
                flavor: Flavor::Standard,
            },
            &creds,
            at,
        )
        .unwrap();
        assert_eq!(header(&headers, "x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(
            header(&headers, "authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
            )
        );
    }

    #[test]
    fn s3_carries_the_payload_hash_and_sessions_their_token() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret-key", Some("session-token"));
        let headers = signature_headers(
            &Unsigned {
                service: "s3",
                region: "eu-west-1",
                method: "PUT",
                url: "https://b.s3.eu-west-1.amazonaws.com/a%20b/c.json",
                headers: &[("content-type".into(), "application/json".into())],
                body: b"{}",
                flavor: Flavor::S3,
            },
            &creds,
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(
            header(&headers, "x-amz-content-sha256"),
            Some("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
        );
        assert_eq!(
            header(&headers, "x-amz-security-token"),
            Some("session-token")
        );
        let auth = header(&headers, "authorization").unwrap();
        assert!(auth.contains("/eu-west-1/s3/aws4_request"), "{auth}");
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
    }

    #[test]
    fn credentials_never_show() {
        let creds = Credentials::new("AKIAKEYKEY", "s3cr3t-value", Some("tok3n-value"));
        assert_eq!(format!("{creds:?}"), "Credentials(****)");
        assert_eq!(
            creds.redact("key AKIAKEYKEY secret s3cr3t-value token tok3n-value"),
            "key **** secret **** token ****"
        );
        assert_eq!(
            Credentials::from_destination(&serde_json::json!({"key": "k", "secret": ""})),
            None
        );
    }
}
