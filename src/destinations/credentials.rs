//! Destination credentials: encryption at rest, masking in responses, and
//! merge-patch updates that understand masked values (DESIGN.md §5).
//!
//! The life of a credential value:
//!
//! - **stored** encrypted, `enc:v1:<base64(nonce ‖ ciphertext ‖ tag)>`, for
//!   the keys a type names in [`DestinationType::encrypted_keys`];
//! - **served** decrypted and then masked for the sensitive keys
//!   ([`mask_sensitive`]); the webhook signing secrets are the exception and
//!   are served in full, because the receiver needs them to verify;
//! - **patched** with RFC 7396 merge-patch, where a sensitive value sent back
//!   exactly as it was served (masked) means "unchanged" rather than "set the
//!   secret to these asterisks" ([`merge_credentials`]).

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::fields::DestinationType;

/// Marks an encrypted value and its format version, so a future format (or
/// key rotation scheme) can tell old values apart without guessing.
const PREFIX: &str = "enc:v1:";

/// AES-GCM's standard 96-bit nonce.
const NONCE_LEN: usize = 12;

/// Values at least this many characters long keep a 4-character hint when
/// masked; shorter ones are masked whole, since 4 characters of a short
/// secret would give too much of it away.
const MASK_HINT_MIN_LEN: usize = 10;
const MASK_HINT_LEN: usize = 4;

/// The masked form of a secret: for 10 or more characters, the first 4 then
/// one `*` per remaining character; otherwise one `*` per character.
/// Lengths count characters, not bytes, so a multi-byte value is never cut
/// inside a character.
pub fn mask(value: &str) -> String {
    let len = value.chars().count();
    let shown = if len >= MASK_HINT_MIN_LEN {
        MASK_HINT_LEN
    } else {
        0
    };
    value
        .chars()
        .take(shown)
        .chain(std::iter::repeat_n('*', len - shown))
        .collect()
}

/// Whether `candidate` is what a client would send back after receiving
/// `stored` masked, i.e. the client did not change it.
pub fn is_masked_of(candidate: &str, stored: &str) -> bool {
    candidate == mask(stored)
}

/// `credentials` as served: each sensitive string value of `kind` masked,
/// everything else as is. Takes decrypted credentials.
pub fn mask_sensitive(kind: &DestinationType, credentials: &Value) -> Value {
    map_keys(credentials, kind.sensitive_keys(), |s| {
        Ok::<_, std::convert::Infallible>(mask(s))
    })
    .unwrap_or_else(|never| match never {})
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("value is not encrypted (no `{PREFIX}` prefix)")]
    NotEncrypted,
    #[error("encrypted value is malformed")]
    Malformed,
    /// Deliberately one error for both causes: GCM cannot tell a wrong key
    /// from altered data, and saying which would not help an attacker anyway.
    #[error("encrypted value failed authentication (wrong key or altered data)")]
    Unauthentic,
    #[error("value too long to encrypt")]
    TooLong,
}

/// AES-256-GCM with a key derived from the configured secret.
pub struct Cipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    // Never print key material, even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher { .. }")
    }
}

impl Cipher {
    /// A cipher keyed by SHA-256 of `secret` (`AES_ENCRYPTION_SECRET`).
    /// A plain hash, not a password KDF, is enough because the secret is a
    /// generated random string or an operator-provided key, not a password a
    /// person chose; the hash only fits any length to the 32 bytes AES-256
    /// needs.
    pub fn new(secret: &str) -> Cipher {
        let key = Sha256::digest(secret.as_bytes());
        Cipher {
            aead: Aes256Gcm::new(&key),
        }
    }

    /// Encrypts `plaintext` under a fresh random nonce. A random 96-bit nonce
    /// per value is safe for far more values than a credential store will
    /// ever hold (the birthday bound is around 2^32 encryptions per key).
    pub fn encrypt(&self, plaintext: &str) -> Result<String, CipherError> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = Nonce::from(nonce_bytes);
        // Fails only past GCM's plaintext limit (about 64 GiB).
        let sealed = self
            .aead
            .encrypt(&nonce, plaintext.as_bytes())
            .map_err(|_| CipherError::TooLong)?;
        let mut raw = Vec::with_capacity(NONCE_LEN + sealed.len());
        raw.extend_from_slice(&nonce_bytes);
        raw.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(raw)))
    }

    /// Decrypts a value made by [`encrypt`](Self::encrypt) with the same key.
    pub fn decrypt(&self, s: &str) -> Result<String, CipherError> {
        let encoded = s.strip_prefix(PREFIX).ok_or(CipherError::NotEncrypted)?;
        let raw = STANDARD
            .decode(encoded)
            .map_err(|_| CipherError::Malformed)?;
        let (nonce, sealed) = raw
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(CipherError::Malformed)?;
        let plain = self
            .aead
            .decrypt(&Nonce::from(*nonce), sealed)
            .map_err(|_| CipherError::Unauthentic)?;
        // Authentic bytes were UTF-8 when encrypted; this cannot fail unless
        // someone encrypted non-text with our key.
        String::from_utf8(plain).map_err(|_| CipherError::Malformed)
    }

    /// `credentials` with each string value under one of `kind`'s encrypted
    /// keys encrypted; takes plaintext credentials (never already-encrypted
    /// ones: they would be encrypted twice).
    pub fn encrypt_sensitive(
        &self,
        kind: &DestinationType,
        credentials: &Value,
    ) -> Result<Value, CipherError> {
        map_keys(credentials, kind.encrypted_keys(), |s| self.encrypt(s))
    }

    /// The inverse of [`encrypt_sensitive`](Self::encrypt_sensitive).
    /// A value without the `enc:v1:` prefix is taken as plaintext rather than
    /// refused, so rows written before a field was encrypted (or by hand)
    /// still load; a prefixed value that fails to decrypt is an error.
    pub fn decrypt_sensitive(
        &self,
        kind: &DestinationType,
        credentials: &Value,
    ) -> Result<Value, CipherError> {
        map_keys(credentials, kind.encrypted_keys(), |s| {
            if s.starts_with(PREFIX) {
                self.decrypt(s)
            } else {
                Ok(s.to_string())
            }
        })
    }
}

/// `values` with `f` applied to the string values under `keys`. Non-objects
/// and non-string values pass through: validation is not this module's job.
fn map_keys<'k, E>(
    values: &Value,
    keys: impl Iterator<Item = &'k str>,
    mut f: impl FnMut(&str) -> Result<String, E>,
) -> Result<Value, E> {
    let Value::Object(obj) = values else {
        return Ok(values.clone());
    };
    let mut out = obj.clone();
    for key in keys {
        if let Some(Value::String(s)) = out.get_mut(key) {
            *s = f(s)?;
        }
    }
    Ok(Value::Object(out))
}

/// Applies an RFC 7396 JSON merge patch to `target` in place: an object
/// patch merges key by key (recursively), `null` removes a key, and any
/// other patch (arrays included) replaces the target. Surviving keys keep
/// their order; new keys are appended.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            // shift_remove, not remove: keep the order the client sees stable.
            target.shift_remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// The credentials after a PATCH: `patch` merged into `stored` (decrypted),
/// except that a `sensitive` key whose patch value is the masked form of the
/// stored value keeps the stored value. Clients edit the masked document
/// they were served and send it back whole; without this rule every such
/// round trip would overwrite the real secrets with asterisks.
pub fn merge_credentials(stored: &Value, patch: &Value, sensitive: &[&str]) -> Value {
    let mut merged = stored.clone();
    let Value::Object(patch_obj) = patch else {
        merge_patch(&mut merged, patch);
        return merged;
    };
    let unchanged = |key: &str, value: &Value| {
        sensitive.contains(&key)
            && matches!(
                (value, stored.get(key)),
                (Value::String(sent), Some(Value::String(kept))) if is_masked_of(sent, kept)
            )
    };
    let effective: Map<String, Value> = patch_obj
        .iter()
        .filter(|(k, v)| !unchanged(k, v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    merge_patch(&mut merged, &Value::Object(effective));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::find;
    use serde_json::json;

    #[test]
    fn mask_keeps_a_hint_from_ten_characters() {
        assert_eq!(mask(""), "");
        assert_eq!(mask("abc"), "***");
        assert_eq!(mask("123456789"), "*********");
        assert_eq!(mask("1234567890"), "1234******");
        assert_eq!(mask("AKIAIOSFODNN7EXAMPLE"), "AKIA****************");
    }

    #[test]
    fn mask_counts_characters_not_bytes() {
        // 9 characters but 18+ bytes: still masked whole.
        assert_eq!(mask("ééééééééé"), "*********");
        // 10 characters: the hint is 4 whole characters.
        assert_eq!(mask("日本語のパスワード!"), "日本語の******");
        assert_eq!(mask("🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑").chars().count(), 10);
    }

    #[test]
    fn is_masked_of_recognises_only_the_exact_mask() {
        assert!(is_masked_of("1234******", "1234567890"));
        assert!(is_masked_of("***", "abc"));
        assert!(!is_masked_of("1234*****", "1234567890"));
        assert!(!is_masked_of("1234567890", "1234567890"));
        assert!(!is_masked_of("****", "abc"));
    }

    #[test]
    fn encrypt_round_trips() {
        let c = Cipher::new("test-secret");
        for plain in ["", "s3cret", "ünïcødé 🔑", &"x".repeat(10_000)] {
            let sealed = c.encrypt(plain).expect("encrypt");
            assert!(sealed.starts_with("enc:v1:"));
            assert!(!sealed.contains(plain) || plain.is_empty());
            assert_eq!(c.decrypt(&sealed).as_deref(), Ok(plain));
        }
    }

    #[test]
    fn nonce_differs_between_encryptions() {
        let c = Cipher::new("k");
        let a = c.encrypt("same").expect("encrypt");
        let b = c.encrypt("same").expect("encrypt");
        assert_ne!(a, b);
        let nonce =
            |s: &str| STANDARD.decode(&s[PREFIX.len()..]).expect("b64")[..NONCE_LEN].to_vec();
        assert_ne!(nonce(&a), nonce(&b));
    }

    #[test]
    fn wrong_key_fails_cleanly() {
        let sealed = Cipher::new("right").encrypt("s3cret").expect("encrypt");
        assert_eq!(
            Cipher::new("wrong").decrypt(&sealed),
            Err(CipherError::Unauthentic)
        );
    }

    #[test]
    fn tampering_is_detected() {
        let c = Cipher::new("k");
        let sealed = c.encrypt("pay me").expect("encrypt");
        let mut raw = STANDARD.decode(&sealed[PREFIX.len()..]).expect("b64");
        for i in [0, NONCE_LEN, raw.len() - 1] {
            raw[i] ^= 1;
            let forged = format!("{PREFIX}{}", STANDARD.encode(&raw));
            assert_eq!(
                c.decrypt(&forged),
                Err(CipherError::Unauthentic),
                "byte {i}"
            );
            raw[i] ^= 1;
        }
        let truncated = format!("{PREFIX}{}", STANDARD.encode(&raw[..raw.len() - 1]));
        assert_eq!(c.decrypt(&truncated), Err(CipherError::Unauthentic));
    }

    #[test]
    fn malformed_values_are_refused() {
        let c = Cipher::new("k");
        assert_eq!(c.decrypt("plain"), Err(CipherError::NotEncrypted));
        assert_eq!(c.decrypt("enc:v1:not base64!"), Err(CipherError::Malformed));
        assert_eq!(c.decrypt("enc:v1:AAAA"), Err(CipherError::Malformed));
        assert_eq!(c.decrypt("enc:v1:"), Err(CipherError::Malformed));
        assert_eq!(format!("{c:?}"), "Cipher { .. }");
    }

    #[test]
    fn sensitive_helpers_touch_only_their_keys() {
        let c = Cipher::new("k");
        let rabbit = find("rabbitmq").expect("rabbitmq");
        let plain = json!({"username": "guest-user", "password": "correct horse"});

        let stored = c.encrypt_sensitive(rabbit, &plain).expect("encrypt");
        assert_eq!(stored["username"], "guest-user");
        assert!(stored["password"]
            .as_str()
            .is_some_and(|s| s.starts_with(PREFIX)));
        assert_eq!(c.decrypt_sensitive(rabbit, &stored), Ok(plain.clone()));
        assert_eq!(
            mask_sensitive(rabbit, &plain),
            json!({"username": "guest-user", "password": "corr*********"})
        );

        // Plaintext left in storage still loads; a bad ciphertext does not.
        assert_eq!(c.decrypt_sensitive(rabbit, &plain), Ok(plain.clone()));
        let bad = json!({"username": "u", "password": "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"});
        assert_eq!(
            c.decrypt_sensitive(rabbit, &bad),
            Err(CipherError::Unauthentic)
        );
        // Non-objects and non-strings are left to validation.
        assert_eq!(c.encrypt_sensitive(rabbit, &Value::Null), Ok(Value::Null));
        assert_eq!(
            mask_sensitive(rabbit, &json!({"password": 7})),
            json!({"password": 7})
        );
    }

    #[test]
    fn webhook_secrets_are_encrypted_but_never_masked() {
        let c = Cipher::new("k");
        let webhook = find("webhook").expect("webhook");
        let plain = json!({"secret": "whsec_0123456789abcdef", "previous_secret": "whsec_old0123456789",
                           "previous_secret_invalid_at": "2026-01-01T00:00:00Z"});
        let stored = c.encrypt_sensitive(webhook, &plain).expect("encrypt");
        assert!(stored["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with(PREFIX)));
        assert!(stored["previous_secret"]
            .as_str()
            .is_some_and(|s| s.starts_with(PREFIX)));
        assert_eq!(stored["previous_secret_invalid_at"], "2026-01-01T00:00:00Z");
        assert_eq!(c.decrypt_sensitive(webhook, &stored), Ok(plain.clone()));
        assert_eq!(mask_sensitive(webhook, &plain), plain);
    }

    fn patched(target: Value, patch: Value) -> Value {
        let mut t = target;
        merge_patch(&mut t, &patch);
        t
    }

    /// The test cases of RFC 7396, Appendix A.
    #[test]
    fn merge_patch_follows_rfc_7396() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, want) in cases {
            assert_eq!(
                patched(target.clone(), patch.clone()),
                want,
                "{target} + {patch}"
            );
        }
    }

    #[test]
    fn merge_patch_keeps_key_order() {
        let got = patched(
            json!({"a": 1, "b": 2, "c": 3}),
            json!({"a": null, "d": 4, "b": 5}),
        );
        let keys: Vec<&str> = got
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["b", "c", "d"]);
    }

    #[test]
    fn merge_credentials_keeps_secrets_sent_back_masked() {
        let stored =
            json!({"key": "AKIAIOSFODNN7EXAMPLE", "secret": "abc", "session": "tok-123456789"});
        let sensitive = ["key", "secret", "session"];

        // The masked document sent back unchanged changes nothing.
        let served =
            json!({"key": "AKIA****************", "secret": "***", "session": "tok-*********"});
        assert_eq!(merge_credentials(&stored, &served, &sensitive), stored);

        // A new value replaces, null removes, absent keys stay.
        let patch = json!({"key": "AKIANEWKEY0000000000", "session": null});
        assert_eq!(
            merge_credentials(&stored, &patch, &sensitive),
            json!({"key": "AKIANEWKEY0000000000", "secret": "abc"})
        );

        // Asterisks that are not the stored value's mask are a new value.
        let patch = json!({"secret": "****"});
        assert_eq!(
            merge_credentials(&stored, &patch, &sensitive)["secret"],
            "****"
        );

        // The rule applies to sensitive keys only.
        let stored = json!({"username": "abc"});
        assert_eq!(
            merge_credentials(&stored, &json!({"username": "***"}), &[]),
            json!({"username": "***"})
        );
        assert_eq!(
            merge_credentials(&stored, &json!(null), &sensitive),
            Value::Null
        );
    }
}
