//! A destination's payload transformation (`delivery_policy.transform`):
//! jq programs that reshape what the destination is sent.
//!
//! ```json
//! {"transform": {"body": "{text: \"\\(.topic): \\(.data.name)\"}",
//!                "headers": "{\"source\": .metadata.source}"}}
//! ```
//!
//! Each program's input is the event as the destination sees it,
//! `{id, topic, time, metadata, data}`. `body` gives what is sent in place
//! of the event's data; `headers` gives an object of strings merged into
//! the metadata sent (which each type sends as headers or attributes),
//! never in place of outbound's own keys ([`RESERVED`]). Either may be
//! left out. How programs are compiled and run (sandboxed, bounded) is
//! `crate::transform`; this is the shape.

use serde_json::{json, Map, Value};

/// The longest program accepted, in bytes.
pub const MAX_PROGRAM_BYTES: usize = 16 * 1024;

/// Metadata keys a transformation's headers may not set: outbound's own
/// (the event's id, topic and the attempt's timestamp, which the senders
/// turn into their identity headers and attributes) and the signature's.
pub const RESERVED: [&str; 4] = ["event-id", "topic", "timestamp", "signature"];

/// The programs; at least one is set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transform {
    pub body: Option<String>,
    pub headers: Option<String>,
}

impl Transform {
    /// Reads `delivery_policy.transform`: None for null or `{}`; with
    /// `checked`, every problem is named in `errors` (unknown fields,
    /// programs that are not strings, empty or too long). Compiling them is
    /// the caller's next step.
    pub fn read(value: &Value, checked: bool, errors: &mut Vec<String>) -> Option<Transform> {
        let object = match value {
            Value::Null => return None,
            Value::Object(o) => o,
            _ => {
                errors.push("delivery_policy.transform must be an object".into());
                return None;
            }
        };
        for key in object.keys() {
            if !["body", "headers"].contains(&key.as_str()) {
                errors.push(format!(
                    "delivery_policy.transform.{key} is not a transform field (body, headers)"
                ));
            }
        }
        let mut program = |name: &str| match object.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !checked => Some(s.clone()),
            Some(Value::String(s)) if s.trim().is_empty() => {
                errors.push(format!(
                    "delivery_policy.transform.{name} is empty (leave it out, or null, for none)"
                ));
                None
            }
            Some(Value::String(s)) if s.len() > MAX_PROGRAM_BYTES => {
                errors.push(format!(
                    "delivery_policy.transform.{name} is longer than {MAX_PROGRAM_BYTES} bytes"
                ));
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errors.push(format!(
                    "delivery_policy.transform.{name} must be a jq program (a string)"
                ));
                None
            }
        };
        let body = program("body");
        let headers = program("headers");
        (body.is_some() || headers.is_some()).then_some(Transform { body, headers })
    }

    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(b) = &self.body {
            out.insert("body".into(), json!(b));
        }
        if let Some(h) = &self.headers {
            out.insert("headers".into(), json!(h));
        }
        Value::Object(out)
    }
}

/// Whether a transformation's headers may not set `key` ([`RESERVED`],
/// in any case).
pub fn reserved(key: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(v: Value) -> (Option<Transform>, Vec<String>) {
        let mut errors = Vec::new();
        (Transform::read(&v, true, &mut errors), errors)
    }

    #[test]
    fn a_transform_reads_back_as_written() {
        for v in [
            json!({"body": ".data"}),
            json!({"headers": "{}"}),
            json!({"body": ".data", "headers": "{a: .topic}"}),
        ] {
            let (t, errors) = read(v.clone());
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(t.unwrap().to_json(), v);
        }
        assert_eq!(read(json!({})), (None, vec![]));
        assert_eq!(read(json!({"body": null})), (None, vec![]));
        assert_eq!(read(Value::Null), (None, vec![]));
    }

    #[test]
    fn what_is_wrong_is_named() {
        let errors = |v: Value| read(v).1.join("; ");
        assert!(errors(json!(".data")).contains("delivery_policy.transform must be an object"));
        assert!(errors(json!({"bdy": "."}))
            .contains("delivery_policy.transform.bdy is not a transform field"));
        assert!(errors(json!({"body": 1}))
            .contains("delivery_policy.transform.body must be a jq program"));
        assert!(errors(json!({"headers": " "})).contains("transform.headers is empty"));
        assert!(errors(json!({"body": "1+".repeat(9000)})).contains("longer than 16384 bytes"));
    }

    #[test]
    fn outbounds_own_keys_are_reserved() {
        assert!(reserved("event-id"));
        assert!(reserved("Topic"));
        assert!(reserved("SIGNATURE"));
        assert!(!reserved("source"));
    }
}
