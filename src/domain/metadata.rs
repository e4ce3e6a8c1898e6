//! Metadata: string keys to string values, as Outpost has it for tenants,
//! destinations (`metadata`, `delivery_metadata`) and events. They become
//! headers and message attributes, so nothing but strings is accepted.
//!
//! Every delivery carries one map ([`MessageMetadata`]), built as Outpost
//! builds it, later keys winning: the system keys (`event-id`, `topic`,
//! `timestamp`), then the destination's `delivery_metadata`, then the
//! event's `metadata` — the publisher has the last word on its own event.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// The metadata one delivery carries, in insertion order, keys unique;
/// and which keys came from the event's own `metadata` (Standard Webhooks
/// mode also sends those as headers without a prefix, as Outpost does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageMetadata(Vec<(String, String)>, Vec<String>);

impl MessageMetadata {
    /// The map for a delivery of event `event_id` on `topic`, attempted at
    /// `at`: system keys, then `delivery_metadata`, then the event's.
    pub fn new(
        event_id: &str,
        topic: &str,
        at: DateTime<Utc>,
        delivery_metadata: Option<&Value>,
        event_metadata: &Value,
    ) -> MessageMetadata {
        let mut m = MessageMetadata(Vec::with_capacity(8), Vec::new());
        m.insert("event-id", event_id.to_string());
        m.insert("topic", topic.to_string());
        m.insert("timestamp", at.to_rfc3339_opts(SecondsFormat::Secs, true));
        for (map, own) in [(delivery_metadata, false), (Some(event_metadata), true)] {
            if let Some(obj) = map.and_then(Value::as_object) {
                for (k, v) in obj {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    m.insert(k, text);
                    if own {
                        m.1.push(k.clone());
                    }
                }
            }
        }
        m
    }

    /// Sets `key` (replacing an earlier value, keeping its position).
    fn insert(&mut self, key: &str, value: String) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// Sets `key` after the rest: a transformation's headers
    /// (`crate::transform`), which have the last word but on outbound's own
    /// keys (it checks those).
    pub fn set(&mut self, key: &str, value: String) {
        self.insert(key, value);
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The event's own keys and their values (not the system keys, nor the
    /// destination's `delivery_metadata` unless the event repeats them).
    pub fn event_own(&self) -> impl Iterator<Item = (&str, &str)> {
        self.1
            .iter()
            .filter_map(|k| self.get(k).map(|v| (k.as_str(), v)))
    }
}

/// Checks that `value` (the field `field` of a request) is an object of
/// strings, or null or absent (None). Returns one message per bad entry.
pub fn string_map(field: &str, value: Option<&Value>) -> Result<Option<Value>, Vec<String>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            let bad: Vec<String> = m
                .iter()
                .filter(|(_, v)| !v.is_string())
                .map(|(k, _)| format!("{field}.{k} must be a string"))
                .collect();
            if bad.is_empty() {
                Ok(Some(Value::Object(m.clone())))
            } else {
                Err(bad)
            }
        }
        Some(_) => Err(vec![format!("{field} must be an object of strings")]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_keys_win_system_then_destination_then_event() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .to_utc();
        let m = MessageMetadata::new(
            "evt_1",
            "user.created",
            at,
            Some(&json!({"region": "eu", "source": "dest", "topic": "dest-topic"})),
            &json!({"source": "event"}),
        );
        assert_eq!(m.get("event-id"), Some("evt_1"));
        assert_eq!(m.get("timestamp"), Some("2026-12-01T10:00:00Z"));
        assert_eq!(
            m.get("topic"),
            Some("dest-topic"),
            "delivery metadata over system"
        );
        assert_eq!(
            m.get("source"),
            Some("event"),
            "event metadata over delivery"
        );
        assert_eq!(m.get("region"), Some("eu"));
        let keys: Vec<&str> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["event-id", "topic", "timestamp", "region", "source"]);
    }

    #[test]
    fn only_objects_of_strings() {
        assert_eq!(string_map("m", None), Ok(None));
        assert_eq!(string_map("m", Some(&Value::Null)), Ok(None));
        let ok = json!({"a": "1"});
        assert_eq!(string_map("m", Some(&ok)), Ok(Some(ok.clone())));
        assert_eq!(
            string_map("metadata", Some(&json!({"n": 1, "s": "x"}))),
            Err(vec!["metadata.n must be a string".to_string()])
        );
        assert_eq!(
            string_map("m", Some(&json!([]))),
            Err(vec!["m must be an object of strings".to_string()])
        );
    }
}
