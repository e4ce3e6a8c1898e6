//! Webhook request signatures.
//!
//! Two schemes, chosen per deployment or per destination type:
//!
//! - **Outpost default**: `x-outpost-signature: v0=<hex HMAC-SHA256>`. The
//!   key is the whole secret string (prefix included), the signed content and
//!   the header layout are templates, and during a secret rotation both the
//!   new and the previous secret sign, newest first (`v0=<new>,<old>`), so a
//!   receiver can switch secrets at its own pace.
//! - **Standard Webhooks**: `webhook-signature: v1,<base64>` over
//!   `{id}.{timestamp}.{body}`, keyed by the base64-decoded part of a
//!   `whsec_…` secret, so receivers can verify with the public
//!   `standardwebhooks` libraries.
//!
//! Pure functions: no clock, no randomness; the caller passes the timestamp.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::signature_template::{self, Part, TemplateError, Which};

type HmacSha256 = Hmac<Sha256>;

/// Prefix of generated secrets; Standard Webhooks strips it before decoding.
const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("secret is not valid base64 after the `whsec_` prefix")]
    InvalidSecret,
    #[error("no signing secret")]
    NoSecret,
}

/// Which of the two schemes a deployment signs with; it also decides the
/// identity headers (`x-outpost-*` or `webhook-*`) that go with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookMode {
    /// Outpost's `x-outpost-*` headers and `v0=` HMAC signature.
    Default,
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    Standard,
}

/// How the Outpost scheme writes each HMAC
/// (`DESTINATIONS_WEBHOOK_SIGNATURE_ENCODING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureEncoding {
    /// Lowercase hex, Outpost's default.
    #[default]
    Hex,
    /// Standard base64 with padding (Go's `base64.StdEncoding`).
    Base64,
}

impl SignatureEncoding {
    fn encode(self, mac: &[u8]) -> String {
        match self {
            Self::Hex => hex::encode(mac),
            Self::Base64 => STANDARD.encode(mac),
        }
    }
}

/// The content and header templates of the Outpost scheme, parsed once so
/// that signing cannot fail and a mistake is reported at start-up. The
/// syntax (Outpost's Go templates, or outbound's earlier `{body}` form) is
/// described in [`signature_template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureTemplates {
    content: Vec<Part>,
    header: Vec<Part>,
}

/// A template that could not be parsed, and which of the two it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{which} template: {error}")]
pub struct BadTemplate {
    pub which: &'static str,
    #[source]
    pub error: TemplateError,
}

impl SignatureTemplates {
    /// Outpost's defaults.
    pub const DEFAULT_CONTENT: &'static str = "{{.Body}}";
    pub const DEFAULT_HEADER: &'static str = r#"v0={{.Signatures | join ","}}"#;

    pub fn parse(content: &str, header: &str) -> Result<Self, BadTemplate> {
        Ok(Self {
            content: signature_template::parse(content, Which::Content).map_err(|error| {
                BadTemplate {
                    which: "content",
                    error,
                }
            })?,
            header: signature_template::parse(header, Which::Header).map_err(|error| {
                BadTemplate {
                    which: "header",
                    error,
                }
            })?,
        })
    }
}

impl Default for SignatureTemplates {
    fn default() -> Self {
        Self {
            content: vec![Part::Body],
            header: vec![
                Part::Literal("v0=".to_owned()),
                Part::Signatures(",".to_owned()),
            ],
        }
    }
}

/// What a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignInput<'a> {
    pub body: &'a [u8],
    /// Unix seconds of the attempt.
    pub timestamp: i64,
    pub event_id: &'a str,
    pub topic: &'a str,
}

/// The Outpost-mode signature header value. `secrets` are ordered newest
/// first; each contributes one signature, HMAC-SHA256 of the rendered
/// content keyed by the whole secret string, written in `encoding`. With no
/// secrets the list is empty (callers always have at least one).
pub fn outpost_signature(
    t: &SignatureTemplates,
    encoding: SignatureEncoding,
    secrets: &[&str],
    input: &SignInput,
) -> String {
    let millis = input.timestamp.saturating_mul(1000);
    let mut content = Vec::with_capacity(input.body.len() + 64);
    for part in &t.content {
        match part {
            Part::Literal(s) => content.extend_from_slice(s.as_bytes()),
            Part::Body => content.extend_from_slice(input.body),
            Part::UnixSeconds => content.extend_from_slice(input.timestamp.to_string().as_bytes()),
            Part::UnixMillis => content.extend_from_slice(millis.to_string().as_bytes()),
            Part::EventId => content.extend_from_slice(input.event_id.as_bytes()),
            Part::Topic => content.extend_from_slice(input.topic.as_bytes()),
            // Refused by `parse`; nothing to sign.
            Part::Signatures(_) => {}
        }
    }
    let signatures: Vec<String> = secrets
        .iter()
        .map(|secret| encoding.encode(&hmac_sha256(secret.as_bytes(), &[&content])))
        .collect();

    let mut header = String::new();
    for part in &t.header {
        match part {
            Part::Literal(s) => header.push_str(s),
            Part::Signatures(separator) => header.push_str(&signatures.join(separator)),
            Part::UnixSeconds => header.push_str(&input.timestamp.to_string()),
            Part::UnixMillis => header.push_str(&millis.to_string()),
            Part::EventId => header.push_str(input.event_id),
            Part::Topic => header.push_str(input.topic),
            // Refused by `parse`: the body does not belong in a header.
            Part::Body => {}
        }
    }
    header
}

/// The Standard Webhooks `webhook-signature` value: `v1,<base64>` per
/// secret, space-separated, newest first. Each secret is `whsec_<base64 key>`
/// (the prefix is optional, as in the reference libraries).
pub fn standard_signature(
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let timestamp = timestamp.to_string();
    let mut out = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let key = standard_key(secret)?;
        let mac = hmac_sha256(
            &key,
            &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
        );
        out.push(format!("v1,{}", STANDARD.encode(mac)));
    }
    Ok(out.join(" "))
}

fn standard_key(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    // Accept unpadded keys too: some providers strip the `=`.
    STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| SignatureError::InvalidSecret)
}

fn hmac_sha256(key: &[u8], chunks: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length (long ones are hashed), so this never
    // fails; the fallback only exists to avoid an `expect`.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0; 32];
    };
    for chunk in chunks {
        mac.update(chunk);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    /// HMAC-SHA256 written out from RFC 2104 with plain SHA-256, so the
    /// Outpost tests do not check the code against itself.
    fn reference_hmac(key: &[u8], msg: &[u8]) -> String {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
        let inner = Sha256::new()
            .chain_update(&ipad)
            .chain_update(msg)
            .finalize();
        hex::encode(
            Sha256::new()
                .chain_update(&opad)
                .chain_update(inner)
                .finalize(),
        )
    }

    const SECRET: &str = "whsec_3f1c0e9a8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e";
    const OLD: &str = "whsec_0000000000000000000000000000000000000000000000000000000000000000";

    const HEX: SignatureEncoding = SignatureEncoding::Hex;

    fn input(body: &[u8]) -> SignInput<'_> {
        SignInput {
            body,
            timestamp: 1_700_000_000,
            event_id: "evt_123",
            topic: "user.created",
        }
    }

    #[test]
    fn reference_hmac_matches_rfc4231_case_2() {
        assert_eq!(
            reference_hmac(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn outpost_default_signs_the_body_with_the_whole_secret() {
        let body = br#"{"user_id":"u1","n":1}"#;
        let header =
            outpost_signature(&SignatureTemplates::default(), HEX, &[SECRET], &input(body));
        assert_eq!(
            header,
            format!("v0={}", reference_hmac(SECRET.as_bytes(), body))
        );
    }

    #[test]
    fn outpost_rotation_lists_newest_first() {
        let body = b"{}";
        let header = outpost_signature(
            &SignatureTemplates::default(),
            HEX,
            &[SECRET, OLD],
            &input(body),
        );
        assert_eq!(
            header,
            format!(
                "v0={},{}",
                reference_hmac(SECRET.as_bytes(), body),
                reference_hmac(OLD.as_bytes(), body)
            )
        );
    }

    #[test]
    fn outpost_custom_templates() {
        let t = SignatureTemplates::parse("{timestamp}.{body}", "t={timestamp},v0={signatures}")
            .unwrap();
        let body = b"{\"a\":1}";
        let header = outpost_signature(&t, HEX, &[SECRET], &input(body));
        let expected = reference_hmac(SECRET.as_bytes(), b"1700000000.{\"a\":1}");
        assert_eq!(header, format!("t=1700000000,v0={expected}"));

        let t = SignatureTemplates::parse("{event_id}:{topic}:{body}", "{topic} sig={signatures}")
            .unwrap();
        let header = outpost_signature(&t, HEX, &[SECRET], &input(body));
        let expected = reference_hmac(SECRET.as_bytes(), b"evt_123:user.created:{\"a\":1}");
        assert_eq!(header, format!("user.created sig={expected}"));
    }

    #[test]
    fn default_templates_equal_their_parsed_form() {
        let parsed = SignatureTemplates::parse(
            SignatureTemplates::DEFAULT_CONTENT,
            SignatureTemplates::DEFAULT_HEADER,
        )
        .unwrap();
        assert_eq!(parsed, SignatureTemplates::default());
    }

    #[test]
    fn outpost_go_templates_and_base64() {
        let t = SignatureTemplates::parse(
            "{{.Timestamp.Unix}}.{{.Body}}",
            r#"t={{.Timestamp.Unix}},v0={{.Signatures | join ","}}"#,
        )
        .unwrap();
        let body = b"{\"a\":1}";
        let header = outpost_signature(&t, HEX, &[SECRET, OLD], &input(body));
        let signed = b"1700000000.{\"a\":1}";
        assert_eq!(
            header,
            format!(
                "t=1700000000,v0={},{}",
                reference_hmac(SECRET.as_bytes(), signed),
                reference_hmac(OLD.as_bytes(), signed)
            )
        );

        let header = outpost_signature(
            &SignatureTemplates::default(),
            SignatureEncoding::Base64,
            &[SECRET],
            &input(body),
        );
        let raw = hex::decode(reference_hmac(SECRET.as_bytes(), body)).unwrap();
        assert_eq!(header, format!("v0={}", STANDARD.encode(raw)));
    }

    #[test]
    fn template_errors_name_the_template() {
        let err = SignatureTemplates::parse("{{.Payload}}", "v0={signatures}").unwrap_err();
        assert!(err.to_string().starts_with("content template: "), "{err}");
        let err = SignatureTemplates::parse("{body}", "{{.Body}}").unwrap_err();
        assert!(err.to_string().starts_with("header template: "), "{err}");
    }

    #[test]
    fn standard_webhooks_test_vector() {
        // The published Standard Webhooks / Svix reference vector: a
        // receiver's off-the-shelf library must accept what we send.
        let sig = standard_signature(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");

        // The prefix is optional.
        let bare = standard_signature(
            &["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(bare, sig);
    }

    #[test]
    fn standard_rotation_is_space_separated() {
        let other = format!("whsec_{}", STANDARD.encode([7u8; 32]));
        let both = standard_signature(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &other],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        let (first, second) = both.split_once(' ').unwrap();
        assert_eq!(first, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let expected = reference_hmac(
            &[7u8; 32],
            br#"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}"#,
        );
        let got = STANDARD
            .decode(second.strip_prefix("v1,").unwrap())
            .unwrap();
        assert_eq!(hex::encode(got), expected);
    }

    #[test]
    fn standard_errors() {
        assert_eq!(
            standard_signature(&["whsec_not base64!"], "m", 1, b""),
            Err(SignatureError::InvalidSecret)
        );
        assert_eq!(
            standard_signature(&[], "m", 1, b""),
            Err(SignatureError::NoSecret)
        );
    }
}
