//! One JSON Schema per destination type for its `config` and `credentials`,
//! generated from the type's field table.
//!
//! [`DestinationType::json_schema`] hands it to the portal to build forms.
//! It comes from the same [`Field`]s as the served documents, so the two
//! cannot drift apart; a field's pattern, in particular, goes into the schema
//! as the very regex source clients are served.
//!
//! Three input conventions are older than the schema and cannot be said in
//! JSON Schema, so the schema describes the values as they are after them:
//!
//! - absent, `null` and `""` all mean "not given", as in an HTML form that
//!   sends an empty input as `""`: blank values of declared fields are
//!   dropped, and a required field left blank is reported as missing;
//! - a `key_value_map` may be sent as the JSON text of its object (Outpost
//!   stores it as a string): the text is decoded and the schema judges the
//!   object inside;
//! - a missing or `null` section is an empty one.
//!
//! Unknown keys are kept, blank or not, so `additionalProperties: false`
//! refuses them.

use std::sync::LazyLock;

use serde_json::{json, Map, Value};

use super::{all, DestinationType, Field, FieldKind, CHECKBOX_STRINGS};

/// The managed credential that is a switch rather than a stored string:
/// asking for a new webhook secret.
const ROTATE_SECRET: &str = "rotate_secret";

/// The schemas of the registered types, in [`all`]'s order. They are static,
/// so they are generated once, on first use, not per request.
static SCHEMAS: LazyLock<Vec<Value>> = LazyLock::new(|| all().iter().map(generate).collect());

/// The schema of a type that is not registered: it accepts nothing.
static NOTHING: Value = Value::Bool(false);

impl DestinationType {
    /// The JSON Schema (draft 2020-12) of `{"config": …, "credentials": …}`
    /// for this type, after blank values are dropped and key-value text is
    /// decoded (see the module notes). Built once per type.
    ///
    /// A schema depends only on a type's field tables, so a variant that
    /// shares a registered type's tables (the Standard Webhooks description
    /// of `webhook`) shares its schema too.
    pub fn json_schema(&self) -> &Value {
        all()
            .iter()
            .zip(SCHEMAS.iter())
            .find(|(registered, _)| same_fields(registered, self))
            .map_or(&NOTHING, |(_, schema)| schema)
    }
}

fn same_fields(a: &DestinationType, b: &DestinationType) -> bool {
    a.config_fields == b.config_fields
        && a.credential_fields == b.credential_fields
        && a.managed_credentials == b.managed_credentials
}

// ---------------------------------------------------------------------------
// Generation.

fn generate(t: &DestinationType) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": t.label,
        "type": "object",
        "properties": {
            "config": section(t.config_fields, &[]),
            "credentials": section(t.credential_fields, t.managed_credentials),
        },
        "additionalProperties": false,
    })
}

fn section(fields: &[Field], managed: &[&str]) -> Value {
    let mut properties: Map<String, Value> = fields
        .iter()
        .map(|f| (f.key.to_string(), field(f)))
        .collect();
    properties.extend(
        managed
            .iter()
            .map(|key| (key.to_string(), managed_credential(key))),
    );
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.key)
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn field(f: &Field) -> Value {
    let mut s: Vec<(&str, Value)> = match f.kind {
        FieldKind::Text => {
            let bounds = [("minLength", f.min_length), ("maxLength", f.max_length)];
            let bounds = bounds.into_iter().filter_map(|(k, n)| Some((k, json!(n?))));
            let pattern = f.pattern.map(|p| ("pattern", json!(p.source())));
            [("type", json!("string"))]
                .into_iter()
                .chain(bounds)
                .chain(pattern)
                .collect()
        }
        FieldKind::Checkbox => vec![("enum", json!(checkbox_values()))],
        FieldKind::KeyValueMap => vec![
            ("type", json!("object")),
            ("additionalProperties", json!({"type": "string"})),
        ],
        FieldKind::Select => {
            let values: Vec<&str> = f.options.iter().map(|o| o.value).collect();
            vec![("type", json!("string")), ("enum", json!(values))]
        }
    };
    // Annotations for the forms built from the schema; they do not validate.
    s.push(("title", json!(f.label)));
    s.push(("description", json!(f.description)));
    s.extend(f.default.map(|d| ("default", json!(d))));
    Value::Object(s.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A credential the service manages itself. Only its shape is checked here;
/// who may set it and what a timestamp means is the API layer's business.
/// The stored ones are `readOnly` because the portal's user, a tenant, may
/// not set them (rotation is how a tenant changes the secret).
fn managed_credential(key: &str) -> Value {
    if key == ROTATE_SECRET {
        json!({"enum": checkbox_values()})
    } else {
        json!({"type": "string", "readOnly": true})
    }
}

/// A JSON boolean or one of the strings [`super::parse_checkbox`] reads.
fn checkbox_values() -> Vec<Value> {
    let strings = CHECKBOX_STRINGS.iter().map(|(s, _)| json!(s));
    [json!(true), json!(false)]
        .into_iter()
        .chain(strings)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{get, webhook_standard, Pattern};
    use super::*;

    /// A valid `config` and `credentials` for each type, giving every
    /// declared field a value so the tests below reach all of them.
    fn example(kind: &str) -> (Value, Value) {
        let aws = json!({"key": "AKIA", "secret": "s", "session": "t"});
        match kind {
            "webhook" => (
                json!({"url": "https://example.com/h", "custom_headers": {"X-A": "1"}}),
                json!({}),
            ),
            "aws_sqs" => (
                json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com/1/q"}),
                json!({"key": "AKIA", "secret": "s"}),
            ),
            "aws_s3" => (
                json!({"bucket": "b", "region": "eu-west-1", "key_template": "k",
                       "storage_class": "STANDARD"}),
                aws,
            ),
            "aws_kinesis" => (
                json!({"stream_name": "orders", "region": "us-east-1",
                       "endpoint": "http://localhost:4566", "partition_key_template": "id"}),
                aws,
            ),
            "rabbitmq" => (
                json!({"server_url": "mq:5672", "exchange": "events", "tls": "on"}),
                json!({"username": "u", "password": "p"}),
            ),
            "gcp_pubsub" => (
                json!({"project_id": "p", "topic": "t", "endpoint": "localhost:8085"}),
                json!({"service_account_json": "{}"}),
            ),
            other => panic!("no example for {other}"),
        }
    }

    fn instance(config: &Value, credentials: &Value) -> Value {
        json!({"config": config, "credentials": credentials})
    }

    #[test]
    fn every_type_has_a_schema_that_compiles() {
        for t in all().iter().chain([webhook_standard()]) {
            if let Err(e) = jsonschema::validator_for(t.json_schema()) {
                panic!("the {} schema does not compile: {e}", t.kind);
            }
            assert!(
                jsonschema::meta::is_valid(t.json_schema()),
                "{} schema is not a valid draft 2020-12 schema",
                t.kind
            );
        }
        // The Standard Webhooks variant is the webhook type described otherwise.
        let webhook = get("webhook").expect("webhook");
        assert!(std::ptr::eq(
            webhook_standard().json_schema(),
            webhook.json_schema()
        ));
    }

    /// What the portal will do: compile the served schema with stock
    /// options and judge a form's values with it.
    #[test]
    fn each_schema_accepts_a_valid_example_and_refuses_bad_ones() {
        for t in all() {
            let kind = t.kind;
            let v = jsonschema::validator_for(t.json_schema()).expect("compiles");
            let (config, credentials) = example(kind);
            let declared = |fs: &[Field]| fs.iter().map(|f| f.key).collect::<Vec<_>>();
            let given = |v: &Value| {
                v.as_object()
                    .expect("object")
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(given(&config), declared(t.config_fields), "{kind} example");
            assert_eq!(
                given(&credentials),
                declared(t.credential_fields),
                "{kind} example"
            );
            assert!(
                v.is_valid(&instance(&config, &credentials)),
                "{kind} example"
            );

            let sections = [
                ("config", &config, t.config_fields),
                ("credentials", &credentials, t.credential_fields),
            ];
            for (section, values, fields) in sections {
                let refused = |changed: Value, what: &str| {
                    let doc = match section {
                        "config" => instance(&changed, &credentials),
                        _ => instance(&config, &changed),
                    };
                    assert!(!v.is_valid(&doc), "{kind} {section}: {what} accepted");
                };
                for f in fields {
                    let mut bad = values.clone();
                    bad[f.key] = json!(42);
                    refused(bad, &format!("42 as {}", f.key));
                    if f.required {
                        let mut bad = values.clone();
                        bad.as_object_mut().expect("object").remove(f.key);
                        refused(bad, &format!("no {}", f.key));
                    }
                }
                let mut bad = values.clone();
                bad["unknown"] = json!("x");
                refused(bad, "an unknown key");
                refused(json!(["not", "an", "object"]), "an array");
            }
        }
        let webhook = jsonschema::validator_for(get("webhook").expect("webhook").json_schema())
            .expect("compiles");
        let url = |u: &str| instance(&json!({"url": u}), &json!({}));
        assert!(!webhook.is_valid(&url("ftp://example.com")));
        let managed = json!({"secret": "whsec_1", "rotate_secret": "on"});
        assert!(webhook.is_valid(&instance(&json!({"url": "https://x.io"}), &managed)));
    }

    /// Whether the generated schema of `kind` accepts its example with
    /// `config[key]` set to `value`, blank or not (no input conventions).
    fn schema_accepts(kind: &str, key: &str, value: &str) -> bool {
        let t = get(kind).expect("type");
        let (mut config, credentials) = example(kind);
        config[key] = json!(value);
        let v = jsonschema::validator_for(t.json_schema()).expect("compiles");
        v.is_valid(&instance(&config, &credentials))
    }

    #[test]
    fn patterns_are_matched_by_the_served_regex() {
        let url = ("aws_sqs", "queue_url", Pattern::HttpUrl);
        let host = ("rabbitmq", "server_url", Pattern::NoWhitespace);
        let region = ("aws_s3", "region", Pattern::AwsRegion);
        let stream = ("aws_kinesis", "stream_name", Pattern::StreamName);
        let cases = [
            (url, "https://example.com/hook?a=1", true),
            (url, "http://x", true),
            (url, "https://", false),
            (url, "ftp://example.com", false),
            (url, "https://exa mple.com", false),
            (url, "https://example.com/\u{a0}", false),
            (url, "HTTPS://example.com", false),
            (url, " https://example.com", false),
            (url, "https://example.com\n", false),
            (host, "rabbit:5672", true),
            (host, "a\tb", false),
            (host, "", false),
            (region, "us-east-1", true),
            (region, "ap-southeast-12", true),
            (region, "us-gov-west-1", false),
            (region, "usa-east-1", false),
            (region, "US-east-1", false),
            (region, "us-east-", false),
            (region, "us--1", false),
            (stream, "orders.v1_stream-2", true),
            (stream, "orders/v1", false),
            (stream, "", false),
        ];
        for ((kind, key, pattern), value, want) in cases {
            let t = get(kind).expect("type");
            let served = t.to_json()["config_fields"]
                .as_array()
                .and_then(|fs| fs.iter().find(|f| f["key"] == key))
                .map(|f| f["pattern"].clone());
            assert_eq!(served, Some(json!(pattern.source())), "{kind}.{key}");
            assert_eq!(
                t.json_schema()["properties"]["config"]["properties"][key]["pattern"],
                pattern.source()
            );
            assert_eq!(
                schema_accepts(kind, key, value),
                want,
                "{pattern:?} on {value:?}"
            );
        }
    }
}
