//! A Hookdeck destination token, as Hookdeck's "connect" flow issues it and
//! Outpost reads it: base64 (standard alphabet, padded) of
//! `<source id>:<random>`. The source id names the ingest URL
//! (`<ingest base>/<source id>`, `https://hkdk.events/<id>` in production);
//! the whole token, as given, is the HMAC-SHA256 key of the request
//! signature `x-hookdeck-signature: v0=<base64 HMAC(token, body)>`.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// A parsed token. Its `Debug` shows the source id only.
#[derive(Clone, PartialEq, Eq)]
pub struct HookdeckToken {
    pub source_id: String,
    token: String,
}

impl fmt::Debug for HookdeckToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookdeckToken")
            .field("source_id", &self.source_id)
            .finish_non_exhaustive()
    }
}

impl HookdeckToken {
    /// Reads a token. The source id becomes a URL path segment, so it must
    /// be a plain identifier (letters, digits, `_`, `-`), as Hookdeck's are.
    pub fn parse(token: &str) -> Result<HookdeckToken, String> {
        let decoded = STANDARD
            .decode(token)
            .map_err(|_| "is not a Hookdeck token (not base64)".to_string())?;
        let decoded = String::from_utf8_lossy(&decoded);
        let Some((source_id, _)) = decoded.split_once(':') else {
            return Err("is not a Hookdeck token (expected base64 of <source id>:<secret>)".into());
        };
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if source_id.is_empty() || !source_id.chars().all(plain) {
            return Err("is not a Hookdeck token (its source id is not an identifier)".into());
        }
        Ok(HookdeckToken {
            source_id: source_id.to_string(),
            token: token.to_string(),
        })
    }

    /// The `x-hookdeck-signature` value for `body`.
    pub fn signature(&self, body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.token.as_bytes());
        format!("v0={}", STANDARD.encode(ring::hmac::sign(&key, body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_source_and_sign_with_the_whole_token() {
        let text = STANDARD.encode("src_abc123:s3cr3t:with:colons");
        let t = HookdeckToken::parse(&text).unwrap();
        assert_eq!(t.source_id, "src_abc123");
        assert!(!format!("{t:?}").contains("s3cr3t"));
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, text.as_bytes());
        let expected = format!("v0={}", STANDARD.encode(ring::hmac::sign(&key, b"{}")));
        assert_eq!(t.signature(b"{}"), expected);
    }

    #[test]
    fn what_is_not_a_token_is_refused() {
        for bad in [
            "not base64!".to_string(),
            STANDARD.encode("no-colon"),
            STANDARD.encode(":secret"),
            STANDARD.encode("../x:secret"),
            STANDARD.encode("a b:secret"),
        ] {
            let err = HookdeckToken::parse(&bad).unwrap_err();
            assert!(err.starts_with("is not a Hookdeck token"), "{bad}: {err}");
        }
    }
}
