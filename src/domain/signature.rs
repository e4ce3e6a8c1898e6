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

type HmacSha256 = Hmac<Sha256>;

/// Prefix of generated secrets; Standard Webhooks strips it before decoding.
const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("{template} template: unknown placeholder {{{name}}}")]
    UnknownPlaceholder {
        template: &'static str,
        name: String,
    },
    #[error("{template} template: `{{` at byte {at} is never closed")]
    Unclosed { template: &'static str, at: usize },
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

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Body,
    Timestamp,
    EventId,
    Topic,
    Signatures,
}

/// The content and header templates of the Outpost scheme, parsed once so
/// that signing cannot fail and a typo is reported at startup.
///
/// Placeholders: `{body}`, `{timestamp}` (unix seconds), `{event_id}`,
/// `{topic}` in both templates except that `{body}` is content-only and
/// `{signatures}` (the comma-joined hex signatures) is header-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureTemplates {
    content_source: String,
    header_source: String,
    content: Vec<Part>,
    header: Vec<Part>,
}

impl SignatureTemplates {
    pub const DEFAULT_CONTENT: &'static str = "{body}";
    pub const DEFAULT_HEADER: &'static str = "v0={signatures}";

    pub fn parse(content: &str, header: &str) -> Result<Self, SignatureError> {
        Ok(Self {
            content: parse_template("content", content, &[Part::Signatures])?,
            header: parse_template("header", header, &[Part::Body])?,
            content_source: content.to_owned(),
            header_source: header.to_owned(),
        })
    }

    /// The content template as configured.
    pub fn content(&self) -> &str {
        &self.content_source
    }

    /// The header template as configured.
    pub fn header(&self) -> &str {
        &self.header_source
    }
}

impl Default for SignatureTemplates {
    fn default() -> Self {
        Self {
            content_source: Self::DEFAULT_CONTENT.to_owned(),
            header_source: Self::DEFAULT_HEADER.to_owned(),
            content: vec![Part::Body],
            header: vec![Part::Literal("v0=".to_owned()), Part::Signatures],
        }
    }
}

/// Splits a template into literals and placeholders. A `{` always opens a
/// placeholder (there is no escape: none of the formats in use needs a
/// literal brace); a lone `}` is literal.
fn parse_template(
    template: &'static str,
    source: &str,
    forbidden: &[Part],
) -> Result<Vec<Part>, SignatureError> {
    let mut parts = Vec::new();
    let mut rest = source;
    let mut offset = 0;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or(SignatureError::Unclosed {
            template,
            at: offset + open,
        })?;
        let name = &after[..close];
        // Unknown names and names that make no sense in this template (the
        // body in a header, signatures in the signed content) are the same
        // mistake to an operator.
        let part = placeholder(name)
            .filter(|part| !forbidden.contains(part))
            .ok_or_else(|| SignatureError::UnknownPlaceholder {
                template,
                name: name.to_owned(),
            })?;
        parts.push(part);
        let consumed = open + 1 + close + 1;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(parts)
}

fn placeholder(name: &str) -> Option<Part> {
    Some(match name {
        "body" => Part::Body,
        "timestamp" => Part::Timestamp,
        "event_id" => Part::EventId,
        "topic" => Part::Topic,
        "signatures" => Part::Signatures,
        _ => return None,
    })
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
/// first; each contributes one hex signature to `{signatures}`. With no
/// secrets `{signatures}` is empty (callers always have at least one).
pub fn outpost_signature(t: &SignatureTemplates, secrets: &[&str], input: &SignInput) -> String {
    let mut content = Vec::with_capacity(input.body.len() + 64);
    for part in &t.content {
        match part {
            Part::Literal(s) => content.extend_from_slice(s.as_bytes()),
            Part::Body => content.extend_from_slice(input.body),
            Part::Timestamp => content.extend_from_slice(input.timestamp.to_string().as_bytes()),
            Part::EventId => content.extend_from_slice(input.event_id.as_bytes()),
            Part::Topic => content.extend_from_slice(input.topic.as_bytes()),
            // Rejected by `parse`; nothing to sign.
            Part::Signatures => {}
        }
    }
    let signatures = secrets
        .iter()
        .map(|secret| hex::encode(hmac_sha256(secret.as_bytes(), &[&content])))
        .collect::<Vec<_>>()
        .join(",");

    let mut header = String::new();
    for part in &t.header {
        match part {
            Part::Literal(s) => header.push_str(s),
            Part::Signatures => header.push_str(&signatures),
            Part::Timestamp => header.push_str(&input.timestamp.to_string()),
            Part::EventId => header.push_str(input.event_id),
            Part::Topic => header.push_str(input.topic),
            // Rejected by `parse`: the body does not belong in a header.
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
        let header = outpost_signature(&SignatureTemplates::default(), &[SECRET], &input(body));
        assert_eq!(
            header,
            format!("v0={}", reference_hmac(SECRET.as_bytes(), body))
        );
    }

    #[test]
    fn outpost_rotation_lists_newest_first() {
        let body = b"{}";
        let header =
            outpost_signature(&SignatureTemplates::default(), &[SECRET, OLD], &input(body));
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
        let header = outpost_signature(&t, &[SECRET], &input(body));
        let expected = reference_hmac(SECRET.as_bytes(), b"1700000000.{\"a\":1}");
        assert_eq!(header, format!("t=1700000000,v0={expected}"));

        let t = SignatureTemplates::parse("{event_id}:{topic}:{body}", "{topic} sig={signatures}")
            .unwrap();
        let header = outpost_signature(&t, &[SECRET], &input(body));
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
    fn template_errors() {
        let cases = [
            ("{bdy}", "v0={signatures}", "unknown placeholder {bdy}"),
            ("{body}", "v0={sigs}", "unknown placeholder {sigs}"),
            ("{signatures}", "v0={signatures}", "content template"),
            ("{body}", "{body}", "header template"),
            (
                "{timestamp.{body}",
                "v0={signatures}",
                "unknown placeholder",
            ),
            ("{body", "v0={signatures}", "never closed"),
            ("{body}", "v0={signatures", "never closed"),
        ];
        for (content, header, message) in cases {
            let err = SignatureTemplates::parse(content, header).unwrap_err();
            assert!(
                err.to_string().contains(message),
                "{content} / {header}: {err}"
            );
        }
        // A lone closing brace is literal text.
        let t = SignatureTemplates::parse("}{body}", "v0={signatures}}").unwrap();
        let header = outpost_signature(&t, &[SECRET], &input(b"x"));
        assert_eq!(
            header,
            format!("v0={}}}", reference_hmac(SECRET.as_bytes(), b"}x"))
        );
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
