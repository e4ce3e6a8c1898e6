//! The destination types and the schema of their `config` and `credentials`.
//!
//! Each type declares its fields once, in `declarations.rs`, and everything
//! else derives from that declaration: `GET /api/v1/destination-types` serves [`DestinationType::to_json`],
//! create and update check input with [`DestinationType::validate`], and the
//! credential code (`super::credentials`) encrypts and masks exactly the
//! fields marked sensitive.
//!
//! Field keys, types, `required`, `sensitive` and patterns are the contract
//! shared with Outpost clients (its portal and SDKs build forms from them), so
//! they must not drift; labels, descriptions and icons are ours.
//!
//! Values are strings, as in Outpost (its config and credentials are string
//! maps). Two relaxations for JSON clients: a checkbox may be a JSON boolean,
//! and a `key_value_map` may be a JSON object of strings as well as the JSON
//! text of one. [`DestinationType::normalize_config`] turns both back into the
//! string form before storage, so responses keep Outpost's shape.

mod declarations;
mod schema;

use serde_json::{json, Map, Value};

use declarations::{TYPES, WEBHOOK_STANDARD};

/// How a field is edited and what values it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A single-line string.
    Text,
    /// A boolean, as `"true"`/`"false"` (or `"on"`/`"off"`, the HTML form
    /// values the schema's defaults use).
    Checkbox,
    /// String keys to string values, e.g. custom HTTP headers.
    KeyValueMap,
    /// One of the field's `options`.
    Select,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Checkbox => "checkbox",
            FieldKind::KeyValueMap => "key_value_map",
            FieldKind::Select => "select",
        }
    }
}

/// The few validation patterns the schemas use. They are served as regex
/// source (clients use them as HTML5 `pattern` attributes) and matched here
/// by hand, which spares the service a regex engine for four fixed shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// An `http://` or `https://` URL without whitespace.
    HttpUrl,
    /// Any non-empty string without whitespace.
    NoWhitespace,
    /// An AWS region such as `eu-west-1`.
    AwsRegion,
    /// ASCII letters, digits, `_`, `.` and `-`.
    StreamName,
}

impl Pattern {
    /// The regex source served to clients.
    pub fn source(self) -> &'static str {
        match self {
            Pattern::HttpUrl => r"^https?:\/\/[^\s]+$",
            Pattern::NoWhitespace => r"^[^\s]+$",
            Pattern::AwsRegion => r"^[a-z]{2}-[a-z]+-[0-9]+$",
            Pattern::StreamName => r"^[a-zA-Z0-9_.-]+$",
        }
    }

    /// Whether `s` matches [`Pattern::source`] (anchored at both ends).
    pub fn matches(self, s: &str) -> bool {
        let no_space = |t: &str| !t.is_empty() && !t.chars().any(char::is_whitespace);
        match self {
            Pattern::HttpUrl => s
                .strip_prefix("https://")
                .or_else(|| s.strip_prefix("http://"))
                .is_some_and(no_space),
            Pattern::NoWhitespace => no_space(s),
            Pattern::AwsRegion => {
                let parts: Vec<&str> = s.split('-').collect();
                let all = |t: &str, f: fn(&u8) -> bool| !t.is_empty() && t.bytes().all(|b| f(&b));
                matches!(parts.as_slice(), [area, name, n]
                    if area.len() == 2
                        && all(area, u8::is_ascii_lowercase)
                        && all(name, u8::is_ascii_lowercase)
                        && all(n, u8::is_ascii_digit))
            }
            Pattern::StreamName => {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            }
        }
    }
}

/// One choice of a `select` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectOption {
    pub label: &'static str,
    pub value: &'static str,
}

/// One key of a destination's `config` or `credentials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub key: &'static str,
    pub kind: FieldKind,
    pub label: &'static str,
    pub description: &'static str,
    pub required: bool,
    /// Encrypted at rest and masked in responses.
    pub sensitive: bool,
    pub pattern: Option<Pattern>,
    pub default: Option<&'static str>,
    pub placeholder: Option<&'static str>,
    pub key_placeholder: Option<&'static str>,
    pub value_placeholder: Option<&'static str>,
    /// Bounds on a text value, in characters.
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub options: &'static [SelectOption],
}

/// The base the declarations (`declarations.rs`) override: an optional plain
/// text field.
const TEXT: Field = Field {
    key: "",
    kind: FieldKind::Text,
    label: "",
    description: "",
    required: false,
    sensitive: false,
    pattern: None,
    default: None,
    placeholder: None,
    key_placeholder: None,
    value_placeholder: None,
    min_length: None,
    max_length: None,
    options: &[],
};

impl Field {
    /// The field as served in a destination-type document. `sensitive` is
    /// always present on credential fields and only when true elsewhere,
    /// matching Outpost's documents.
    pub fn to_json(&self, credential: bool) -> Value {
        let mut m = Map::new();
        m.insert("key".into(), json!(self.key));
        m.insert("type".into(), json!(self.kind.as_str()));
        m.insert("label".into(), json!(self.label));
        m.insert("description".into(), json!(self.description));
        m.insert("required".into(), json!(self.required));
        if credential || self.sensitive {
            m.insert("sensitive".into(), json!(self.sensitive));
        }
        let optional = [
            ("pattern", self.pattern.map(Pattern::source)),
            ("default", self.default),
            ("placeholder", self.placeholder),
            ("key_placeholder", self.key_placeholder),
            ("value_placeholder", self.value_placeholder),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                m.insert(name.into(), json!(v));
            }
        }
        if let Some(n) = self.min_length {
            m.insert("minlength".into(), json!(n));
        }
        if let Some(n) = self.max_length {
            m.insert("maxlength".into(), json!(n));
        }
        if !self.options.is_empty() {
            let options: Vec<Value> = self
                .options
                .iter()
                .map(|o| json!({"label": o.label, "value": o.value}))
                .collect();
            m.insert("options".into(), Value::Array(options));
        }
        Value::Object(m)
    }
}

/// A problem with one input value; `field` is its path, e.g. `config.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A kind of destination and the schema of its settings.
#[derive(Debug, PartialEq, Eq)]
pub struct DestinationType {
    /// The `type` of a destination, e.g. `webhook`.
    pub kind: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub link: &'static str,
    /// An SVG document.
    pub icon: &'static str,
    pub config_fields: &'static [Field],
    pub credential_fields: &'static [Field],
    /// Credentials the service manages itself rather than the user (the
    /// webhook signing secret and its rotation). They are not in the served
    /// schema, never required on input, but accepted (the API layer decides
    /// who may set them).
    pub managed_credentials: &'static [&'static str],
    /// The managed credentials that are secrets: encrypted at rest like the
    /// sensitive fields, but returned in full because the receiver needs
    /// them to verify signatures (DESIGN.md §5).
    pub unmasked_secrets: &'static [&'static str],
}

/// Every destination type, in the order they are listed to clients.
pub fn all() -> &'static [DestinationType] {
    &TYPES
}

/// The destination type named `kind`.
pub fn get(kind: &str) -> Option<&'static DestinationType> {
    TYPES.iter().find(|t| t.kind == kind)
}

/// The webhook type as advertised by a deployment in Standard Webhooks
/// mode: the same type and fields, described as such.
pub fn webhook_standard() -> &'static DestinationType {
    &WEBHOOK_STANDARD
}

impl DestinationType {
    /// The document `GET /api/v1/destination-types` serves for this type.
    pub fn to_json(&self) -> Value {
        let fields = |fs: &[Field], credential: bool| -> Value {
            Value::Array(fs.iter().map(|f| f.to_json(credential)).collect())
        };
        json!({
            "type": self.kind,
            "label": self.label,
            "description": self.description,
            "link": self.link,
            "icon": self.icon,
            "config_fields": fields(self.config_fields, false),
            "credential_fields": fields(self.credential_fields, true),
        })
    }

    /// The credential keys that are masked in responses.
    pub fn sensitive_keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.credential_fields
            .iter()
            .filter(|f| f.sensitive)
            .map(|f| f.key)
    }

    /// The credential keys that are encrypted at rest: the sensitive fields
    /// and the unmasked managed secrets.
    pub fn encrypted_keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.sensitive_keys()
            .chain(self.unmasked_secrets.iter().copied())
    }

    /// Checks a complete `config` and `credentials` pair (for an update, the
    /// stored values with the patch merged in). Reports every problem, not
    /// just the first, so a form can mark all its bad inputs at once.
    /// `null` or an absent object counts as empty.
    pub fn validate(&self, config: &Value, credentials: &Value) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        check_section("config", self.config_fields, &[], config, &mut errors);
        check_section(
            "credentials",
            self.credential_fields,
            self.managed_credentials,
            credentials,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// `config` in its stored, all-strings form: a boolean checkbox becomes
    /// `"true"`/`"false"` and a key-value object its JSON text. Call after
    /// [`validate`](Self::validate); other values pass through unchanged.
    pub fn normalize_config(&self, config: &Value) -> Value {
        let Some(obj) = config.as_object() else {
            return config.clone();
        };
        let mut out = obj.clone();
        for field in self.config_fields {
            let Some(v) = out.get_mut(field.key) else {
                continue;
            };
            match (field.kind, &*v) {
                (FieldKind::Checkbox, Value::Bool(b)) => *v = json!(b.to_string()),
                (FieldKind::KeyValueMap, Value::Object(_)) => *v = json!(v.to_string()),
                _ => {}
            }
        }
        Value::Object(out)
    }
}

/// The strings a checkbox accepts besides a JSON boolean, and what they
/// mean: `true`/`false`, and `on`/`off` as HTML forms send them (the
/// rabbitmq `tls` default is `on`). [`parse_checkbox`] reads them and the
/// generated schema lists them, so the two accept the same set.
const CHECKBOX_STRINGS: [(&str, bool); 4] = [
    ("true", true),
    ("false", false),
    ("on", true),
    ("off", false),
];

/// Reads a checkbox value: `"true"`/`"on"` or `"false"`/`"off"`.
pub fn parse_checkbox(s: &str) -> Option<bool> {
    CHECKBOX_STRINGS
        .iter()
        .find(|(text, _)| *text == s)
        .map(|&(_, value)| value)
}

fn check_section(
    section: &str,
    fields: &[Field],
    managed: &[&str],
    values: &Value,
    errors: &mut Vec<FieldError>,
) {
    let empty = Map::new();
    let obj = match values {
        Value::Null => &empty,
        Value::Object(obj) => obj,
        _ => {
            errors.push(error(section, "", "must be an object"));
            return;
        }
    };
    for field in fields {
        let present = obj.get(field.key).filter(|v| !is_blank(v));
        match present {
            None if field.required => errors.push(error(section, field.key, "is required")),
            None => {}
            Some(v) => {
                if let Err(message) = check_value(field, v) {
                    errors.push(error(section, field.key, &message));
                }
            }
        }
    }
    for (key, value) in obj {
        if fields.iter().any(|f| f.key == key) {
            continue;
        }
        if managed.contains(&key.as_str()) {
            if let Err(message) = check_managed(key, value) {
                errors.push(error(section, key, message));
            }
            continue;
        }
        errors.push(error(
            section,
            key,
            "is not a field of this destination type",
        ));
    }
}

/// Absent, `null` and `""` all mean "not given", as in an HTML form.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn check_value(field: &Field, v: &Value) -> Result<(), String> {
    match field.kind {
        FieldKind::Text => {
            let s = v.as_str().ok_or("must be a string")?;
            let len = s.chars().count();
            if let Some(min) = field.min_length.filter(|&min| len < min) {
                return Err(format!("must be at least {min} characters"));
            }
            if let Some(max) = field.max_length.filter(|&max| len > max) {
                return Err(format!("must be at most {max} characters"));
            }
            match field.pattern {
                Some(p) if !p.matches(s) => Err(format!("must match {}", p.source())),
                _ => Ok(()),
            }
        }
        FieldKind::Checkbox => match v {
            Value::Bool(_) => Ok(()),
            Value::String(s) if parse_checkbox(s).is_some() => Ok(()),
            _ => Err("must be \"true\" or \"false\"".into()),
        },
        FieldKind::KeyValueMap => {
            let parsed;
            let obj = match v {
                Value::Object(obj) => obj,
                Value::String(s) => {
                    parsed = serde_json::from_str::<Value>(s).ok();
                    parsed
                        .as_ref()
                        .and_then(Value::as_object)
                        .ok_or("must be a JSON object of strings")?
                }
                _ => return Err("must be a JSON object of strings".into()),
            };
            match obj.iter().find(|(_, v)| !v.is_string()) {
                Some((k, _)) => Err(format!("value of {k:?} must be a string")),
                None => Ok(()),
            }
        }
        FieldKind::Select => {
            let s = v.as_str().ok_or("must be a string")?;
            if field.options.iter().any(|o| o.value == s) {
                Ok(())
            } else {
                let values: Vec<&str> = field.options.iter().map(|o| o.value).collect();
                Err(format!("must be one of {}", values.join(", ")))
            }
        }
    }
}

/// Shape checks only: whether the caller may set a managed credential, and
/// what the timestamp means, is the API layer's business.
fn check_managed(key: &str, v: &Value) -> Result<(), &'static str> {
    match (key, v) {
        (_, Value::Null) => Ok(()),
        ("rotate_secret", Value::Bool(_)) => Ok(()),
        ("rotate_secret", Value::String(s)) if parse_checkbox(s).is_some() => Ok(()),
        ("rotate_secret", _) => Err("must be a boolean"),
        (_, Value::String(_)) => Ok(()),
        _ => Err("must be a string"),
    }
}

fn error(section: &str, key: &str, message: &str) -> FieldError {
    let field = if key.is_empty() {
        section.to_string()
    } else {
        format!("{section}.{key}")
    };
    FieldError {
        field,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_json_has_the_served_shape() {
        let doc = get("rabbitmq").expect("rabbitmq").to_json();
        let keys: Vec<&str> = doc
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "type",
                "label",
                "description",
                "link",
                "icon",
                "config_fields",
                "credential_fields"
            ]
        );
        assert_eq!(doc["type"], "rabbitmq");
        assert!(doc["icon"]
            .as_str()
            .is_some_and(|s| s.starts_with("<svg") && s.ends_with("</svg>")));
        assert_eq!(
            doc["config_fields"][0],
            json!({"key": "server_url", "type": "text", "label": "Server address",
                   "description": "Host and port of the RabbitMQ server, e.g. rabbit.example.com:5672",
                   "required": true, "pattern": "^[^\\s]+$"})
        );
        assert_eq!(doc["config_fields"][2]["type"], "checkbox");
        assert_eq!(doc["config_fields"][2]["default"], "on");
        // Credential fields always say whether they are sensitive.
        assert_eq!(doc["credential_fields"][0]["sensitive"], false);
        assert_eq!(doc["credential_fields"][1]["sensitive"], true);

        let webhook = get("webhook").expect("webhook").to_json();
        assert_eq!(webhook["credential_fields"], json!([]));
        assert_eq!(
            webhook["config_fields"][1]["key_placeholder"],
            "Header name"
        );
        assert!(webhook["config_fields"][0].get("sensitive").is_none());
    }

    #[test]
    fn patterns_match_like_their_regexes() {
        let cases: &[(Pattern, &str, bool)] = &[
            (Pattern::HttpUrl, "https://example.com/hook?a=1", true),
            (Pattern::HttpUrl, "http://x", true),
            (Pattern::HttpUrl, "https://", false),
            (Pattern::HttpUrl, "ftp://example.com", false),
            (Pattern::HttpUrl, "https://exa mple.com", false),
            (Pattern::HttpUrl, "HTTPS://example.com", false),
            (Pattern::HttpUrl, " https://example.com", false),
            (Pattern::NoWhitespace, "rabbit:5672", true),
            (Pattern::NoWhitespace, "a\tb", false),
            (Pattern::NoWhitespace, "", false),
            (Pattern::AwsRegion, "us-east-1", true),
            (Pattern::AwsRegion, "ap-southeast-12", true),
            (Pattern::AwsRegion, "us-gov-west-1", false),
            (Pattern::AwsRegion, "usa-east-1", false),
            (Pattern::AwsRegion, "US-east-1", false),
            (Pattern::AwsRegion, "us-east-", false),
            (Pattern::AwsRegion, "us--1", false),
            (Pattern::StreamName, "orders.v1_stream-2", true),
            (Pattern::StreamName, "orders/v1", false),
            (Pattern::StreamName, "", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(p.matches(s), *want, "{p:?} on {s:?}");
        }
    }

    fn errors(kind: &str, config: Value, credentials: Value) -> Vec<(String, String)> {
        match get(kind).expect("type").validate(&config, &credentials) {
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

    #[test]
    fn length_bounds_and_selects_are_checked() {
        const OPTIONS: &[SelectOption] = &[SelectOption {
            label: "Plain",
            value: "plain",
        }];
        let bounded = Field {
            key: "name",
            min_length: Some(2),
            max_length: Some(3),
            ..TEXT
        };
        assert!(check_value(&bounded, &json!("ab")).is_ok());
        assert!(
            check_value(&bounded, &json!("äöü")).is_ok(),
            "counted in characters"
        );
        assert!(check_value(&bounded, &json!("a")).is_err());
        assert!(check_value(&bounded, &json!("abcd")).is_err());
        let select = Field {
            kind: FieldKind::Select,
            options: OPTIONS,
            ..TEXT
        };
        assert!(check_value(&select, &json!("plain")).is_ok());
        assert!(check_value(&select, &json!("scram")).is_err());
        let doc = select.to_json(false);
        assert_eq!(
            doc["options"],
            json!([{"label": "Plain", "value": "plain"}])
        );
        let doc = bounded.to_json(false);
        assert_eq!(
            (doc["minlength"].clone(), doc["maxlength"].clone()),
            (json!(2), json!(3))
        );
    }

    #[test]
    fn normalize_config_stores_strings() {
        let rabbit = get("rabbitmq").expect("rabbitmq");
        assert_eq!(
            rabbit.normalize_config(&json!({"server_url": "mq:5672", "tls": false})),
            json!({"server_url": "mq:5672", "tls": "false"})
        );
        let webhook = get("webhook").expect("webhook");
        let stored = webhook
            .normalize_config(&json!({"url": "https://x.io", "custom_headers": {"X-A": "1"}}));
        assert_eq!(
            stored,
            json!({"url": "https://x.io", "custom_headers": "{\"X-A\":\"1\"}"})
        );
        assert_eq!(parse_checkbox("on"), Some(true));
        assert_eq!(parse_checkbox("TRUE"), None);
    }

    #[test]
    fn sensitive_and_encrypted_keys() {
        let s3 = get("aws_s3").expect("s3");
        assert_eq!(
            s3.sensitive_keys().collect::<Vec<_>>(),
            ["key", "secret", "session"]
        );
        let rabbit = get("rabbitmq").expect("rabbitmq");
        assert_eq!(rabbit.sensitive_keys().collect::<Vec<_>>(), ["password"]);
        let webhook = get("webhook").expect("webhook");
        assert_eq!(webhook.sensitive_keys().count(), 0);
        assert_eq!(
            webhook.encrypted_keys().collect::<Vec<_>>(),
            ["secret", "previous_secret"]
        );
    }
}
