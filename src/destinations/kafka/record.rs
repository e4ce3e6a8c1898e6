//! What a Kafka destination's settings say and what one record looks like
//! (WIRE.md): the event's data as the value; the delivery's metadata as
//! record headers, plus `content-type: application/json`; the key from
//! `partition_key_template`, or the event id.

use crate::domain::attempt_code::AttemptCode;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::destinations::fields::parse_checkbox;
use crate::destinations::kafka::brokers::{parse_brokers, Broker};
use crate::destinations::sender::{Failure, Message, Target};
use crate::domain::jmespath_template;

/// How to authenticate (`config.sasl_mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl Mechanism {
    pub fn parse(s: &str) -> Option<Mechanism> {
        match s {
            "plain" => Some(Mechanism::Plain),
            "scram-sha-256" => Some(Mechanism::ScramSha256),
            "scram-sha-512" => Some(Mechanism::ScramSha512),
            _ => None,
        }
    }

    /// The SASL name, as brokers list it.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// A destination's settings, read from its stored config and credentials.
pub struct Settings<'a> {
    pub brokers: Vec<Broker>,
    pub topic: &'a str,
    pub tls: bool,
    pub mechanism: Mechanism,
    pub template: Option<&'a str>,
    pub username: &'a str,
    pub password: &'a str,
}

impl<'a> Settings<'a> {
    /// Reads `target`'s settings. Creation validated them, so a failure
    /// here means the stored destination predates a rule: permanent
    /// (`invalid_destination_config`, see [`Settings::unusable`]). The
    /// error is the message only, to keep the result small.
    pub fn read(target: Target<'a>) -> Result<Settings<'a>, String> {
        let config = |k: &str| target.config.get(k).and_then(Value::as_str);
        let credential = |k: &str| target.credentials.get(k).and_then(Value::as_str);
        let brokers = parse_brokers(config("brokers").unwrap_or(""))
            .map_err(|e| format!("config.brokers {e}"))?;
        let topic = config("topic")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| "config.topic is missing".to_string())?;
        // As Outpost: TLS only when the stored value says so; an absent or
        // empty value is a plain connection.
        let tls = config("tls").and_then(parse_checkbox).unwrap_or(false);
        let mechanism = config("sasl_mechanism")
            .and_then(Mechanism::parse)
            .ok_or_else(|| "config.sasl_mechanism is missing or unknown".to_string())?;
        let username = credential("username").unwrap_or("");
        let password = credential("password").unwrap_or("");
        if username.is_empty() || password.is_empty() {
            return Err("credentials.username and credentials.password are required".into());
        }
        Ok(Settings {
            brokers,
            topic,
            tls,
            mechanism,
            template: config("partition_key_template").filter(|t| !t.is_empty()),
            username,
            password,
        })
    }

    /// The failure for settings [`read`](Self::read) refused.
    pub fn unusable(message: String) -> Failure {
        Failure::permanent(AttemptCode::InvalidDestinationConfig, message)
    }
}

/// One record: key, value, headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: String,
    pub value: Vec<u8>,
    pub headers: BTreeMap<String, Vec<u8>>,
}

/// The record for `message`. The key template reads the data as JSON; data
/// that is not JSON (it always is, once published) is read as null.
pub fn build(template: Option<&str>, message: Message<'_>) -> Record {
    let event_id = message.event_id.as_str();
    let key = match template {
        None => event_id.to_string(),
        Some(t) => {
            // The document Outpost's templates read: the data and the
            // metadata map. No result, a null or an empty key: the event id.
            let data: Value = serde_json::from_str(message.data).unwrap_or(Value::Null);
            let metadata: serde_json::Map<String, Value> = message
                .metadata
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            let doc = serde_json::json!({"data": data, "metadata": metadata});
            match jmespath_template::evaluate(t, &doc) {
                Ok(Some(key)) if !key.is_empty() => key,
                _ => event_id.to_string(),
            }
        }
    };
    let mut headers = BTreeMap::new();
    headers.insert("content-type".to_string(), b"application/json".to_vec());
    for (k, v) in message.metadata.iter() {
        headers.insert(k.to_string(), v.as_bytes().to_vec());
    }
    Record {
        key,
        value: message.data.as_bytes().to_vec(),
        headers,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::domain::ids::{DestinationId, EventId};
    use crate::domain::metadata::MessageMetadata;

    fn target<'a>(id: &'a DestinationId, config: &'a Value, creds: &'a Value) -> Target<'a> {
        Target {
            id,
            config,
            credentials: creds,
        }
    }

    #[test]
    fn settings_are_read_as_outpost_reads_them() {
        let id = DestinationId::parse("d1").unwrap();
        let creds = json!({"username": "u", "password": "p"});
        let config =
            json!({"brokers": "a:9092, b:9093", "topic": "t", "sasl_mechanism": "scram-sha-512"});
        let s = Settings::read(target(&id, &config, &creds)).unwrap();
        assert_eq!(s.brokers.len(), 2);
        assert_eq!(
            (s.topic, s.tls, s.mechanism),
            ("t", false, Mechanism::ScramSha512)
        );
        assert_eq!(s.template, None);
        for (tls, want) in [("true", true), ("on", true), ("false", false), ("", false)] {
            let config =
                json!({"brokers": "a:1", "topic": "t", "sasl_mechanism": "plain", "tls": tls});
            assert_eq!(
                Settings::read(target(&id, &config, &creds)).unwrap().tls,
                want
            );
        }
        let config = json!({"brokers": "a", "topic": "t", "sasl_mechanism": "plain"});
        let err = Settings::unusable(Settings::read(target(&id, &config, &creds)).err().unwrap());
        assert!(err.permanent);
        assert_eq!(err.code, "invalid_destination_config");
        let config = json!({"brokers": "a:1", "topic": "t", "sasl_mechanism": "plain"});
        let err = Settings::read(target(&id, &config, &json!({"username": "u"})))
            .err()
            .unwrap();
        assert!(err.contains("credentials.password"), "{err}");
    }

    #[test]
    fn records_carry_data_metadata_and_the_key() {
        let at = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
        let event_id = EventId::parse("evt_1").unwrap();
        let meta = MessageMetadata::new(
            "evt_1",
            "user.created",
            at,
            Some(&json!({"team": "core"})),
            &json!({"region": "eu"}),
        );
        let data = r#"{"user":{"id":"u_7"},"b":1,"a":2}"#;
        let message = Message {
            event_id: &event_id,
            topic: "user.created",
            time: at,
            data,
            metadata: &meta,
            attempted_at: at,
        };
        let r = build(None, message);
        assert_eq!(r.key, "evt_1");
        assert_eq!(r.value, data.as_bytes(), "the data byte for byte");
        let headers: Vec<(&str, &[u8])> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        assert_eq!(
            headers,
            [
                ("content-type", &b"application/json"[..]),
                ("event-id", b"evt_1"),
                ("region", b"eu"),
                ("team", b"core"),
                ("timestamp", b"2024-05-06T07:08:09Z"),
                ("topic", b"user.created"),
            ]
        );
        assert_eq!(build(Some("data.user.id"), message).key, "u_7");
        assert_eq!(build(Some("metadata.region"), message).key, "eu");
        assert_eq!(build(Some("data.nothing"), message).key, "evt_1");
    }
}
