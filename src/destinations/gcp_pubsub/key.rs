//! A Google service account key (the JSON file Google issues) and the
//! signed assertion of the OAuth 2.0 JWT-bearer grant (RFC 7523) that
//! exchanges it for an access token: an RS256 JWT whose issuer is the
//! account, whose audience is the key's token endpoint, valid for at most
//! an hour.
//!
//! The key is parsed once, at the edge: the create check uses [`ServiceAccountKey::parse`]
//! to refuse what is not a key, and the Pub/Sub sender to sign with it.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use serde_json::{json, Map, Value};

/// Where a key without `token_uri` is exchanged (Google's default).
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The scope a Pub/Sub publisher asks for.
pub const PUBSUB_SCOPE: &str = "https://www.googleapis.com/auth/pubsub";

/// Google refuses assertions that are valid for longer than an hour.
pub const ASSERTION_LIFETIME_SECS: i64 = 3600;

/// Issued-at is set this far in the past, so that a clock slightly ahead of
/// Google's does not make the assertion "not yet valid".
const CLOCK_SKEW_SECS: i64 = 10;

/// A parsed service account key. Its `Debug` names the account only.
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key_id: Option<String>,
    /// The OAuth token endpoint the assertion is posted to.
    pub token_uri: String,
    signer: RsaKeyPair,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// Why a text is not a usable key. The messages name fields, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("must be the service account's JSON key file (a JSON object)")]
    NotJson,
    #[error("has no {0}")]
    Missing(String),
    #[error("type must be \"service_account\"")]
    NotServiceAccount,
    #[error("private_key must be a PEM RSA private key")]
    NotRsa,
    #[error("token_uri must be an http or https URL")]
    TokenUri,
    #[error("signing the token request failed")]
    Signing,
}

impl ServiceAccountKey {
    /// Reads a key file: a JSON object with `type: service_account`,
    /// `client_email` and a PEM RSA `private_key` (PKCS#8 as Google issues
    /// it, or PKCS#1); `token_uri` and `private_key_id` are optional.
    pub fn parse(text: &str) -> Result<ServiceAccountKey, KeyError> {
        let Ok(Value::Object(key)) = serde_json::from_str::<Value>(text) else {
            return Err(KeyError::NotJson);
        };
        let field = |name: &str| {
            key.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let missing: Vec<&str> = ["type", "client_email", "private_key"]
            .into_iter()
            .filter(|k| field(k).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(KeyError::Missing(missing.join(", ")));
        }
        if field("type") != Some("service_account") {
            return Err(KeyError::NotServiceAccount);
        }
        let signer =
            rsa_key_pair(field("private_key").unwrap_or_default()).ok_or(KeyError::NotRsa)?;
        let token_uri = field("token_uri").unwrap_or(DEFAULT_TOKEN_URI);
        match url::Url::parse(token_uri) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(KeyError::TokenUri),
        }
        Ok(ServiceAccountKey {
            client_email: field("client_email").unwrap_or_default().to_string(),
            private_key_id: field("private_key_id").map(str::to_string),
            token_uri: token_uri.to_string(),
            signer,
        })
    }

    /// The signed JWT that asks `token_uri` for a token of `scope`, issued
    /// at `now` (unix seconds) and valid for an hour.
    pub fn assertion(&self, scope: &str, now: i64) -> Result<String, KeyError> {
        let mut header = Map::new();
        header.insert("alg".into(), "RS256".into());
        header.insert("typ".into(), "JWT".into());
        if let Some(kid) = &self.private_key_id {
            header.insert("kid".into(), kid.as_str().into());
        }
        let iat = now - CLOCK_SKEW_SECS;
        let claims = json!({
            "iss": self.client_email,
            "scope": scope,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.signer.public().modulus_len()];
        self.signer
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| KeyError::Signing)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// The RSA key in `pem` (PKCS#8, or PKCS#1), if it holds one.
fn rsa_key_pair(pem: &str) -> Option<RsaKeyPair> {
    match PrivateKeyDer::from_pem_slice(pem.as_bytes()).ok()? {
        PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).ok(),
        PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ring::signature::{KeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    const RSA_KEY: &str = include_str!("../../../tests/data/gcp-test-key.pem");
    const EC_KEY: &str = include_str!("../../../tests/data/ec-test-key.pem");

    fn key_json(extra: Value) -> String {
        let mut key = json!({"type": "service_account", "client_email": "pub@p.iam.gserviceaccount.com",
                             "private_key": RSA_KEY});
        if let (Value::Object(k), Value::Object(e)) = (&mut key, extra) {
            k.extend(e);
        }
        key.to_string()
    }

    #[test]
    fn keys_are_parsed_with_google_defaults() {
        let key = ServiceAccountKey::parse(&key_json(json!({}))).unwrap();
        assert_eq!(key.client_email, "pub@p.iam.gserviceaccount.com");
        assert_eq!(key.token_uri, DEFAULT_TOKEN_URI);
        assert_eq!(key.private_key_id, None);
        assert!(
            !format!("{key:?}").contains("PRIVATE"),
            "Debug hides the key"
        );
        let key = ServiceAccountKey::parse(&key_json(
            json!({"token_uri": "http://127.0.0.1:9/token", "private_key_id": "k1"}),
        ))
        .unwrap();
        assert_eq!(key.token_uri, "http://127.0.0.1:9/token");
        assert_eq!(key.private_key_id.as_deref(), Some("k1"));
    }

    #[test]
    fn what_is_not_a_key_says_why() {
        let bad = |text: &str| ServiceAccountKey::parse(text).unwrap_err();
        assert_eq!(bad("nope"), KeyError::NotJson);
        assert_eq!(bad("[1]"), KeyError::NotJson);
        assert_eq!(
            bad("{}"),
            KeyError::Missing("type, client_email, private_key".into())
        );
        assert_eq!(
            bad(&key_json(json!({"type": "user"}))),
            KeyError::NotServiceAccount
        );
        assert_eq!(
            bad(&key_json(json!({"private_key": "x"}))),
            KeyError::NotRsa
        );
        assert_eq!(
            bad(&key_json(json!({"private_key": EC_KEY}))),
            KeyError::NotRsa
        );
        assert_eq!(
            bad(&key_json(json!({"token_uri": "ftp://x/token"}))),
            KeyError::TokenUri
        );
    }

    #[test]
    fn the_assertion_is_an_rs256_jwt_with_the_grant_claims() {
        let key = ServiceAccountKey::parse(&key_json(json!({"private_key_id": "k1"}))).unwrap();
        let jwt = key.assertion(PUBSUB_SCOPE, 1_800_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |p: &str| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
        };
        assert_eq!(
            decode(parts[0]),
            json!({"alg": "RS256", "typ": "JWT", "kid": "k1"})
        );
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], "pub@p.iam.gserviceaccount.com");
        assert_eq!(claims["scope"], PUBSUB_SCOPE);
        assert_eq!(claims["aud"], DEFAULT_TOKEN_URI);
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert!(iat <= 1_800_000_000 && exp - iat == 3600, "{claims}");
        let public = key.signer.public_key().as_ref().to_vec();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .expect("signature verifies");
    }
}
