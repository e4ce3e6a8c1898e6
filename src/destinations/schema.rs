//! One JSON Schema per destination type for its `config` and `credentials`,
//! generated from the type's field table, and the validation that runs it.
//!
//! The generated schema is the single statement of what a type accepts:
//! [`DestinationType::validate`] runs it on every create and update, and
//! [`DestinationType::json_schema`] hands it to the portal to build forms.
//! It comes from the same [`Field`]s as the served documents, so the two
//! cannot drift apart; a field's pattern, in particular, goes into the schema
//! as the very regex source clients are served.
//!
//! Three input conventions are older than the schema and cannot be said in
//! JSON Schema, so `prepare` applies them before it runs:
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

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, PatternOptions, ValidationError, Validator};
use serde_json::{json, Map, Value};

use super::fields::{DestinationType, Field, FieldError, FieldKind, CHECKBOX_STRINGS};
use super::registry::declarations;

/// The two parts of a destination the schema covers, in the order their
/// errors are reported.
const SECTIONS: [&str; 2] = ["config", "credentials"];

/// The managed credential that is a switch rather than a stored string:
/// asking for a new webhook secret.
const ROTATE_SECRET: &str = "rotate_secret";

/// One type's generated schema and the validator compiled from it.
struct TypeSchema {
    document: Value,
    /// `Err` only if the generator emitted an invalid schema. That is a
    /// programming error, which a unit test rules out for every type; it is
    /// kept as a value so a request meets an error rather than a panic.
    validator: Result<Validator, String>,
}

/// The schemas of the registered types, in [`declarations`]'s order. They are static,
/// so they are generated and compiled once, on first use, not per request.
static SCHEMAS: LazyLock<Vec<TypeSchema>> =
    LazyLock::new(|| declarations().map(TypeSchema::new).collect());

/// The schema of a type that is not registered: it accepts nothing.
static NOTHING: Value = Value::Bool(false);

impl DestinationType {
    /// The JSON Schema (draft 2020-12) of `{"config": …, "credentials": …}`
    /// for this type, after blank values are dropped and key-value text is
    /// decoded (see the module notes). Built once per type.
    pub fn json_schema(&self) -> &Value {
        TypeSchema::of(self).map_or(&NOTHING, |s| &s.document)
    }

    /// Checks a complete `config` and `credentials` pair (for an update, the
    /// stored values with the patch merged in) against the type's
    /// [`json_schema`](Self::json_schema). Reports every problem, not just
    /// the first, so a form can mark all its bad inputs at once: one error
    /// per field, config before credentials, fields in declaration order,
    /// then other keys in input order. `null` or an absent object counts as
    /// empty.
    pub fn validate(&self, config: &Value, credentials: &Value) -> Result<(), Vec<FieldError>> {
        match TypeSchema::of(self) {
            Some(schema) => schema.check(self, config, credentials),
            None => Err(vec![FieldError {
                field: SECTIONS[0].into(),
                message: "cannot be checked: the destination type is not registered".into(),
            }]),
        }
    }
}

impl TypeSchema {
    fn new(t: &DestinationType) -> TypeSchema {
        let document = generate(t);
        let validator = compile(&document);
        TypeSchema {
            document,
            validator,
        }
    }

    /// The schema of `t`. A schema depends only on a type's field tables, so
    /// a variant that shares a registered type's tables (the Standard
    /// Webhooks description of `webhook`) shares its schema too.
    fn of(t: &DestinationType) -> Option<&'static TypeSchema> {
        declarations()
            .zip(SCHEMAS.iter())
            .find(|(registered, _)| same_fields(registered, t))
            .map(|(_, schema)| schema)
    }

    fn check(
        &self,
        t: &DestinationType,
        config: &Value,
        credentials: &Value,
    ) -> Result<(), Vec<FieldError>> {
        let validator = match &self.validator {
            Ok(v) => v,
            Err(e) => {
                return Err(vec![FieldError {
                    field: SECTIONS[0].into(),
                    message: format!("cannot be checked: the generated schema is invalid: {e}"),
                }])
            }
        };
        let instance = json!({
            "config": prepare(config, t.config_fields, &[]),
            "credentials": prepare(credentials, t.credential_fields, t.managed_credentials),
        });
        let mut found: Vec<Found> = validator
            .iter_errors(&instance)
            .flat_map(|e| explain(t, &instance, &e))
            .collect();
        // The validator's order follows its compiled keywords, not the form.
        // Sorting restores the form's order, and keeping the first error of
        // each field (a value that is too short and off-pattern gets the
        // length message) gives one message per input, as a form shows it.
        found.sort_by_key(|f| f.order);
        found.dedup_by(|a, b| a.error.field == b.error.field);
        if found.is_empty() {
            Ok(())
        } else {
            Err(found.into_iter().map(|f| f.error).collect())
        }
    }
}

fn same_fields(a: &DestinationType, b: &DestinationType) -> bool {
    a.config_fields == b.config_fields
        && a.credential_fields == b.credential_fields
        && a.managed_credentials == b.managed_credentials
}

fn compile(document: &Value) -> Result<Validator, String> {
    // The patterns are plain regular expressions, so the linear-time engine
    // suffices and no input can drive it into a backtracking limit.
    jsonschema::draft202012::options()
        .with_pattern_options(PatternOptions::regex())
        .build(document)
        .map_err(|e| e.to_string())
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

// ---------------------------------------------------------------------------
// Validation.

/// A section as the schema is to see it (see the module notes). A value that
/// is neither an object nor `null` is left for the schema to refuse.
fn prepare(values: &Value, fields: &[Field], managed: &[&str]) -> Value {
    let obj = match values {
        Value::Null => return json!({}),
        Value::Object(obj) => obj,
        other => return other.clone(),
    };
    let mut out = Map::new();
    for (key, value) in obj {
        let declared = fields.iter().find(|f| f.key == key);
        let value = match declared {
            Some(_) if is_blank(value) => continue,
            Some(f) if f.kind == FieldKind::KeyValueMap => decode_map_text(value),
            // Managed credentials are never typed into a form, so only
            // `null` means absent there (`""` is a string like any other).
            None if value.is_null() && managed.contains(&key.as_str()) => continue,
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

/// Absent, `null` and `""` all mean "not given", as in an HTML form.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// The value a key-value map's JSON text holds. Text that is not JSON stays
/// a string, which the schema then refuses as not an object.
fn decode_map_text(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        other => other.clone(),
    }
}

/// One schema error in the caller's terms, and where it sorts: (section,
/// slot, rank), with slot the field's place in its table, or after the table
/// in input order for other keys, and rank the order of a field's checks.
struct Found {
    order: (usize, usize, u8),
    error: FieldError,
}

/// The errors one schema error stands for: one per unknown key for
/// `additionalProperties`, one otherwise.
fn explain(t: &DestinationType, instance: &Value, e: &ValidationError<'_>) -> Vec<Found> {
    let mut path = e.instance_path().segments().map(|s| s.to_string());
    let section = path.next();
    let key = path.next();
    let inner = path.next();
    let at = |key: Option<&str>, message: String| {
        locate(
            t,
            instance,
            section.as_deref(),
            key,
            rank(e.kind()),
            message,
        )
    };
    match e.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|k| at(Some(k), "is not a field of this destination type".into()))
            .collect(),
        ValidationErrorKind::Required { property } => {
            vec![at(property.as_str(), "is required".into())]
        }
        _ => vec![at(key.as_deref(), message(e, key.is_some(), inner))],
    }
}

/// The message for an error on a section (`field` false) or on a field, or,
/// with `inner`, on one entry of a key-value map.
fn message(e: &ValidationError<'_>, field: bool, inner: Option<String>) -> String {
    if let (ValidationErrorKind::Type { .. }, Some(entry)) = (e.kind(), inner) {
        return format!("value of {entry:?} must be a string");
    }
    match e.kind() {
        // The only object-valued field kind is the key-value map.
        ValidationErrorKind::Type {
            kind: TypeKind::Single(JsonType::Object),
        } if field => "must be a JSON object of strings".into(),
        ValidationErrorKind::Type {
            kind: TypeKind::Single(t),
        } => match t {
            JsonType::Object | JsonType::Array | JsonType::Integer => format!("must be an {t}"),
            _ => format!("must be a {t}"),
        },
        ValidationErrorKind::MinLength { limit } => format!("must be at least {limit} characters"),
        ValidationErrorKind::MaxLength { limit } => format!("must be at most {limit} characters"),
        ValidationErrorKind::Pattern { pattern } => format!("must match {pattern}"),
        ValidationErrorKind::Enum { options } => {
            let options = options.as_array().map(Vec::as_slice).unwrap_or_default();
            if options.iter().any(Value::is_boolean) {
                r#"must be "true" or "false""#.into()
            } else {
                let values: Vec<String> = options
                    .iter()
                    .map(|o| o.as_str().map_or_else(|| o.to_string(), String::from))
                    .collect();
                format!("must be one of {}", values.join(", "))
            }
        }
        // Nothing the generator emits leads here; the masked text keeps a
        // credential's value out of the message all the same.
        _ => e.masked().to_string(),
    }
}

/// The order of a field's checks, as a person fixes them: its type, then its
/// length, then its shape, then its choices.
fn rank(kind: &ValidationErrorKind) -> u8 {
    match kind {
        ValidationErrorKind::MinLength { .. } => 1,
        ValidationErrorKind::MaxLength { .. } => 2,
        ValidationErrorKind::Pattern { .. } => 3,
        ValidationErrorKind::Enum { .. } => 4,
        _ => 0,
    }
}

fn locate(
    t: &DestinationType,
    instance: &Value,
    section: Option<&str>,
    key: Option<&str>,
    rank: u8,
    message: String,
) -> Found {
    // The instance is built in `check` with both sections, so every error
    // lies within one; an error at the top would be reported on `config`.
    let section = section.unwrap_or(SECTIONS[0]);
    let index = SECTIONS.iter().position(|s| *s == section);
    let fields = match index {
        Some(1) => t.credential_fields,
        _ => t.config_fields,
    };
    let slot = key.map_or(0, |key| match fields.iter().position(|f| f.key == key) {
        Some(i) => i,
        None => instance[section]
            .as_object()
            .and_then(|given| given.keys().position(|k| k == key))
            .map_or(usize::MAX, |i| fields.len() + i),
    });
    let field = match key {
        Some(key) => format!("{section}.{key}"),
        None => section.to_string(),
    };
    Found {
        order: (index.unwrap_or(SECTIONS.len()), slot, rank),
        error: FieldError { field, message },
    }
}

#[cfg(test)]
mod tests {
    use crate::destinations::fields::{Pattern, SelectOption, TEXT};
    use crate::destinations::registry::{declarations, find};
    use crate::destinations::webhook::STANDARD_DECLARATION;

    fn webhook_standard() -> &'static DestinationType {
        &STANDARD_DECLARATION
    }

    fn all() -> Vec<&'static DestinationType> {
        declarations().collect()
    }
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
            "azure_servicebus" => (
                json!({"name": "orders.v1"}),
                json!({"connection_string": "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=k"}),
            ),
            "kafka" => (
                json!({"brokers": "b1:9092,b2:9092", "topic": "events", "tls": "true",
                       "partition_key_template": "metadata.\"event-id\"", "sasl_mechanism": "plain"}),
                json!({"username": "u", "password": "p"}),
            ),
            "hookdeck" => (json!({}), json!({"token": "t"})),
            other => panic!("no example for {other}"),
        }
    }

    fn instance(config: &Value, credentials: &Value) -> Value {
        json!({"config": config, "credentials": credentials})
    }

    #[test]
    fn every_type_has_a_schema_that_compiles() {
        for t in all().into_iter().chain([webhook_standard()]) {
            let schema = TypeSchema::of(t).expect("registered");
            if let Err(e) = &schema.validator {
                panic!("the {} schema does not compile: {e}", t.kind);
            }
            assert!(std::ptr::eq(t.json_schema(), &schema.document));
            assert!(
                jsonschema::meta::is_valid(t.json_schema()),
                "{} schema is not a valid draft 2020-12 schema",
                t.kind
            );
        }
        // The Standard Webhooks variant is the webhook type described otherwise.
        let webhook = find("webhook").expect("webhook");
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
            let kind = t.kind.as_str();
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
        let webhook = jsonschema::validator_for(find("webhook").expect("webhook").json_schema())
            .expect("compiles");
        let url = |u: &str| instance(&json!({"url": u}), &json!({}));
        assert!(!webhook.is_valid(&url("ftp://example.com")));
        let managed = json!({"secret": "whsec_1", "rotate_secret": "on"});
        assert!(webhook.is_valid(&instance(&json!({"url": "https://x.io"}), &managed)));
    }

    /// Whether the generated schema of `kind` accepts its example with
    /// `config[key]` set to `value`, blank or not (no input conventions).
    fn schema_accepts(kind: &str, key: &str, value: &str) -> bool {
        let t = find(kind).expect("type");
        let (mut config, credentials) = example(kind);
        config[key] = json!(value);
        let Some(TypeSchema {
            validator: Ok(v), ..
        }) = TypeSchema::of(t)
        else {
            panic!("no compiled schema for {kind}");
        };
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
            // `\s` means what it means in ECMAScript, as in the browsers
            // that use the same pattern: U+FEFF is whitespace, U+0085 not.
            (url, "https://example.com/\u{feff}", false),
            (url, "https://example.com/\u{85}", true),
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
            let t = find(kind).expect("type");
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

    fn errors(kind: &str, config: Value, credentials: Value) -> Vec<(String, String)> {
        match find(kind).expect("type").validate(&config, &credentials) {
            Ok(()) => vec![],
            Err(es) => es.into_iter().map(|e| (e.field, e.message)).collect(),
        }
    }

    fn fields(kind: &str, config: Value, credentials: Value) -> Vec<String> {
        errors(kind, config, credentials)
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    #[test]
    fn valid_input_passes() {
        assert!(fields(
            "webhook",
            json!({"url": "https://example.com/h"}),
            json!({})
        )
        .is_empty());
        assert!(fields(
            "webhook",
            json!({"url": "https://example.com/h"}),
            Value::Null
        )
        .is_empty());
        assert!(fields(
            "aws_s3",
            json!({"bucket": "b", "region": "eu-west-1", "storage_class": ""}),
            json!({"key": "AKIA", "secret": "s", "session": null}),
        )
        .is_empty());
        assert!(fields(
            "rabbitmq",
            json!({"server_url": "mq:5672", "tls": true}),
            json!({"username": "u", "password": "p"}),
        )
        .is_empty());
    }

    #[test]
    fn missing_and_empty_required_fields_are_reported_together() {
        assert_eq!(
            fields(
                "aws_kinesis",
                json!({"stream_name": ""}),
                json!({"secret": null})
            ),
            [
                "config.stream_name",
                "config.region",
                "credentials.key",
                "credentials.secret"
            ]
        );
        assert_eq!(
            errors("aws_sqs", json!({}), json!({"key": "k", "secret": "s"})),
            [("config.queue_url".to_string(), "is required".to_string())]
        );
    }

    #[test]
    fn values_must_be_strings_and_match_patterns() {
        assert_eq!(
            fields(
                "aws_sqs",
                json!({"queue_url": "not a url"}),
                json!({"key": 42, "secret": "s"})
            ),
            ["config.queue_url", "credentials.key"]
        );
        let es = errors(
            "aws_s3",
            json!({"bucket": "b", "region": "Mars"}),
            json!({"key": "k", "secret": "s"}),
        );
        assert_eq!(es[0].0, "config.region");
        assert!(es[0].1.contains("^[a-z]{2}-[a-z]+-[0-9]+$"));
    }

    #[test]
    fn unknown_keys_and_non_objects_are_errors() {
        assert_eq!(
            fields(
                "webhook",
                json!({"url": "https://x.io", "method": "PUT"}),
                json!({"token": "t"})
            ),
            ["config.method", "credentials.token"]
        );
        assert_eq!(
            fields("webhook", json!("https://x.io"), json!([])),
            ["config", "credentials"]
        );
    }

    #[test]
    fn checkbox_takes_booleans_or_their_strings() {
        let creds = json!({"username": "u", "password": "p"});
        for ok in [
            json!(true),
            json!(false),
            json!("true"),
            json!("false"),
            json!("on"),
            json!("off"),
        ] {
            let cfg = json!({"server_url": "mq:5672", "tls": ok});
            assert!(fields("rabbitmq", cfg, creds.clone()).is_empty());
        }
        for bad in [json!("yes"), json!(1)] {
            let cfg = json!({"server_url": "mq:5672", "tls": bad});
            assert_eq!(fields("rabbitmq", cfg, creds.clone()), ["config.tls"]);
        }
    }

    #[test]
    fn key_value_map_takes_an_object_or_its_json_text() {
        let url = "https://x.io";
        for ok in [
            json!({"X-A": "1"}),
            json!("{\"X-A\":\"1\"}"),
            json!({}),
            json!(""),
        ] {
            assert!(fields(
                "webhook",
                json!({"url": url, "custom_headers": ok}),
                json!({})
            )
            .is_empty());
        }
        for bad in [
            json!({"X-A": 1}),
            json!("[1]"),
            json!("{oops"),
            json!(["X-A"]),
            json!("{\"a\":{}}"),
        ] {
            let got = fields(
                "webhook",
                json!({"url": url, "custom_headers": bad}),
                json!({}),
            );
            assert_eq!(got, ["config.custom_headers"]);
        }
    }

    #[test]
    fn webhook_managed_credentials_are_accepted_never_required() {
        let cfg = json!({"url": "https://x.io"});
        assert!(fields("webhook", cfg.clone(), json!({})).is_empty());
        let managed = json!({
            "secret": "whsec_new", "previous_secret": "whsec_old",
            "previous_secret_invalid_at": "2026-01-01T00:00:00Z", "rotate_secret": true,
        });
        assert!(fields("webhook", cfg.clone(), managed).is_empty());
        assert!(fields("webhook", cfg.clone(), json!({"rotate_secret": "true"})).is_empty());
        assert_eq!(
            fields(
                "webhook",
                cfg.clone(),
                json!({"secret": 5, "rotate_secret": "soon"})
            ),
            ["credentials.secret", "credentials.rotate_secret"]
        );
        // Other types manage nothing: the same keys are unknown there.
        let sqs = json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com/1/q"});
        assert_eq!(
            fields(
                "aws_sqs",
                sqs,
                json!({"key": "k", "secret": "s", "rotate_secret": true})
            ),
            ["credentials.rotate_secret"]
        );
    }

    /// A type outside the registry, with the field kinds the real ones do
    /// not use yet.
    const OPTIONS: &[SelectOption] = &[
        SelectOption {
            label: "Plain",
            value: "plain",
        },
        SelectOption {
            label: "SCRAM",
            value: "scram-sha-256",
        },
    ];
    // Not registered: schemas are found by field tables, not by kind, so
    // the kind here is only a label.
    static CUSTOM: DestinationType = DestinationType {
        kind: crate::destinations::kind::DestinationKind::Webhook,
        label: "Custom",
        description: "",
        link: "",
        icon: "",
        config_fields: &[
            Field {
                key: "name",
                min_length: Some(2),
                max_length: Some(3),
                ..TEXT
            },
            Field {
                key: "code",
                min_length: Some(3),
                pattern: Some(Pattern::StreamName),
                ..TEXT
            },
            Field {
                key: "auth",
                kind: FieldKind::Select,
                options: OPTIONS,
                ..TEXT
            },
        ],
        credential_fields: &[],
        managed_credentials: &[],
        unmasked_secrets: &[],
        setup_link: None,
    };

    #[test]
    fn length_bounds_and_selects_are_checked() {
        let schema = TypeSchema::new(&CUSTOM);
        let check = |config: Value| match schema.check(&CUSTOM, &config, &Value::Null) {
            Ok(()) => vec![],
            Err(es) => es.into_iter().map(|e| (e.field, e.message)).collect(),
        };
        let one = |field: &str, message: &str| vec![(field.to_string(), message.to_string())];
        assert_eq!(check(json!({"name": "ab", "auth": "plain"})), []);
        assert_eq!(check(json!({"name": "äöü"})), [], "counted in characters");
        assert_eq!(
            check(json!({"name": "a"})),
            one("config.name", "must be at least 2 characters")
        );
        assert_eq!(
            check(json!({"name": "abcd"})),
            one("config.name", "must be at most 3 characters")
        );
        assert_eq!(
            check(json!({"code": "a/"})),
            one("config.code", "must be at least 3 characters"),
            "one message per field, the length first"
        );
        assert_eq!(
            check(json!({"auth": "scram"})),
            one("config.auth", "must be one of plain, scram-sha-256")
        );
        assert_eq!(
            check(json!({"auth": 5})),
            one("config.auth", "must be a string")
        );
        assert_eq!(
            schema.document["properties"]["config"]["properties"]["auth"]["enum"],
            json!(["plain", "scram-sha-256"])
        );
    }

    #[test]
    fn an_unregistered_type_has_no_schema() {
        assert_eq!(CUSTOM.json_schema(), &json!(false));
        assert!(CUSTOM.validate(&json!({}), &json!({})).is_err());
    }

    #[test]
    fn messages_name_the_problem() {
        let cfg = json!({"url": "https://x.io"});
        assert_eq!(
            errors("webhook", json!({"url": "ftp://x"}), json!({})),
            [(
                "config.url".to_string(),
                r"must match ^https?:\/\/[^\s]+$".to_string()
            )]
        );
        assert_eq!(
            errors("webhook", json!([]), json!({})),
            [("config".to_string(), "must be an object".to_string())]
        );
        let headers = |h: Value| {
            errors(
                "webhook",
                json!({"url": "https://x.io", "custom_headers": h}),
                json!({}),
            )
        };
        assert_eq!(
            headers(json!("[1]")),
            [(
                "config.custom_headers".to_string(),
                "must be a JSON object of strings".to_string()
            )]
        );
        assert_eq!(
            headers(json!({"X-A": "1", "X-B": 2, "X-C": true})),
            [(
                "config.custom_headers".to_string(),
                r#"value of "X-B" must be a string"#.to_string()
            )]
        );
        assert_eq!(
            errors(
                "rabbitmq",
                json!({"server_url": "mq", "tls": "yes"}),
                json!({"username": "u", "password": "p"})
            ),
            [(
                "config.tls".to_string(),
                r#"must be "true" or "false""#.to_string()
            )]
        );
        // Managed and unknown keys follow the declared fields in input
        // order; an unknown key is refused even when blank.
        assert_eq!(
            errors(
                "webhook",
                cfg,
                json!({"token": "t", "secret": 5, "rotate_secret": "soon", "zzz": null})
            ),
            [
                (
                    "credentials.token",
                    "is not a field of this destination type"
                ),
                ("credentials.secret", "must be a string"),
                ("credentials.rotate_secret", r#"must be "true" or "false""#),
                ("credentials.zzz", "is not a field of this destination type"),
            ]
            .map(|(f, m)| (f.to_string(), m.to_string()))
        );
    }
}
