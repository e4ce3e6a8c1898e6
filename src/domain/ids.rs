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

fn event_id_ok(s: &str) -> bool {
    (1..=255).contains(&s.len())
}

/// An id type: a `String` that passed `$valid` once, at the edge (a request,
/// a database row) and is trusted from then on. `TryFrom<String>` takes the
/// string without copying it; serialised, it is the plain string.
macro_rules! id_type {
    ($name:ident, $valid:ident, $err:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if $valid(s) {
                    Ok(Self(s.to_string()))
                } else {
                    Err($err(s))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, IdError> {
                if $valid(&s) {
                    Ok(Self(s))
                } else {
                    Err($err(&s))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

fn bad_chars(kind: &'static str) -> impl Fn(&str) -> IdError {
    move |s| IdError::BadChars {
        kind,
        value: s.chars().take(64).collect(),
    }
}

id_type!(TenantId, url_safe, bad_chars("tenant id"));
id_type!(DestinationId, url_safe, bad_chars("destination id"));
id_type!(EventId, event_id_ok, |s: &str| IdError::BadEventId(s.len()));
id_type!(ReplayId, url_safe, bad_chars("replay id"));

/// A destination by its key: destination ids are unique per tenant (the
/// database's keys include the tenant, so that a distributed database can
/// keep each tenant's rows on one node).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestinationKey {
    pub tenant_id: TenantId,
    pub destination_id: DestinationId,
}

impl DestinationKey {
    pub fn new(tenant_id: &TenantId, destination_id: &DestinationId) -> DestinationKey {
        DestinationKey {
            tenant_id: tenant_id.clone(),
            destination_id: destination_id.clone(),
        }
    }
}

impl DestinationId {
    /// A new random id: `des_` and 20 alphanumerics (about 119 bits).
    pub fn generate() -> DestinationId {
        use rand::distr::{Alphanumeric, SampleString};
        DestinationId(format!(
            "des_{}",
            Alphanumeric.sample_string(&mut rand::rng(), 20)
        ))
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
    fn generated_destination_ids_are_valid_and_distinct() {
        let a = DestinationId::generate();
        assert!(DestinationId::parse(a.as_str()).is_ok());
        assert!(a.as_str().starts_with("des_"));
        assert_ne!(a, DestinationId::generate());
    }

    #[test]
    fn ids_serialise_as_strings() {
        let t = TenantId::try_from("acme".to_string()).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"acme\"");
        assert!(TenantId::try_from("a b".to_string()).is_err());
    }

    #[test]
    fn event_ids_are_free_form_but_bounded() {
        assert!(EventId::parse("évènement 1").is_ok());
        assert!(EventId::parse("").is_err());
        assert!(EventId::parse(&"x".repeat(256)).is_err());
    }
}
