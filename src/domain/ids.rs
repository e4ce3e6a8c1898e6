//! Typed identifiers, parsed once at the edge.
//!
//! Tenant and destination ids appear in URL paths, so they are limited to
//! URL-safe characters; the schema enforces the same rule (`*_id_format`).
//! Event ids are chosen by publishers and only need to be non-empty and
//! bounded.

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IdError {
    #[error("{kind} must be 1 to 255 characters of A-Z a-z 0-9 _ . : @ + -, got {value:?}")]
    BadChars { kind: &'static str, value: String },
    #[error("event id must be 1 to 255 characters, got {0} characters")]
    BadEventId(usize),
}

fn url_safe(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:@+-".contains(&b))
}

macro_rules! url_safe_id {
    ($name:ident, $kind:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if url_safe(s) {
                    Ok(Self(s.to_string()))
                } else {
                    Err(IdError::BadChars {
                        kind: $kind,
                        value: s.chars().take(64).collect(),
                    })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

url_safe_id!(TenantId, "tenant id");
url_safe_id!(DestinationId, "destination id");

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventId(String);

impl EventId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if (1..=255).contains(&s.len()) {
            Ok(EventId(s.to_string()))
        } else {
            Err(IdError::BadEventId(s.len()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_safe_ids() {
        assert!(TenantId::parse("tnt_123").is_ok());
        assert!(TenantId::parse("acme.inc:eu-1@x+y").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("a/b").is_err());
        assert!(TenantId::parse("é").is_err());
        assert!(DestinationId::parse(&"x".repeat(256)).is_err());
        let err = TenantId::parse("a b").unwrap_err().to_string();
        assert!(err.starts_with("tenant id must be"), "{err}");
    }

    #[test]
    fn event_ids_are_free_form_but_bounded() {
        assert!(EventId::parse("évènement 1").is_ok());
        assert!(EventId::parse("").is_err());
        assert!(EventId::parse(&"x".repeat(256)).is_err());
    }
}
