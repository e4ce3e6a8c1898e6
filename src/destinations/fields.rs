//! The destination types and the schema of their `config` and `credentials`.
//!
//! Each type declares its fields once, in `declarations.rs`, and everything
//! else derives from that declaration: `GET /api/v1/destination-types` serves
//! [`DestinationType::to_json`]; `schema.rs` generates one JSON Schema per
//! type ([`DestinationType::json_schema`]) that create and update run
//! ([`DestinationType::validate`]); and the credential code
//! (`super::credentials`) encrypts and masks exactly the fields marked
//! sensitive.
//!
//! This file holds the model (a type, its fields) and what is read straight
//! off it: lookup, the served documents, the sensitive keys, the stored form.
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

use serde_json::{json, Map, Value};

/// A 16×16 rounded tile in `$bg` with white `$glyph` markup on top; one
/// shape for every type keeps the icons original and consistent.
macro_rules! icon {
    ($bg:literal, $glyph:literal) => {
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16" fill="none">"#,
            r#"<rect width="16" height="16" rx="4" fill=""#,
            $bg,
            r#""/><g stroke="white" stroke-width="1.4" stroke-linecap="round" stroke-linejoin="round">"#,
            $glyph,
            "</g></svg>"
        )
    };
}
pub(crate) use icon;

use super::kind::DestinationKind;

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

/// The few validation patterns the fields use. Each is one regex source,
/// served to clients (they use it as an HTML5 `pattern` attribute) and put
/// verbatim into the generated JSON Schema, so the service and its clients
/// judge a value by the same expression.
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
    /// An Azure Service Bus queue or topic name: letters and digits, with
    /// `.`, `_` and `-` inside.
    ServiceBusName,
}

impl Pattern {
    /// The regex source served to clients.
    pub fn source(self) -> &'static str {
        match self {
            Pattern::HttpUrl => r"^https?:\/\/[^\s]+$",
            Pattern::NoWhitespace => r"^[^\s]+$",
            Pattern::AwsRegion => r"^[a-z]{2}-[a-z]+-[0-9]+$",
            Pattern::StreamName => r"^[a-zA-Z0-9_.-]+$",
            Pattern::ServiceBusName => r"^[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$",
        }
    }

    /// What the pattern asks for, in words, for error messages.
    pub fn expects(self) -> &'static str {
        match self {
            Pattern::HttpUrl => "an http:// or https:// URL, without spaces",
            Pattern::NoWhitespace => "a value without spaces",
            Pattern::AwsRegion => "an AWS region such as eu-west-1",
            Pattern::StreamName => "letters, digits, '_', '.' and '-' only",
            Pattern::ServiceBusName => {
                "letters and digits, with '.', '_' or '-' inside (not first or last)"
            }
        }
    }

    /// The pattern whose regex source is `source`.
    pub fn from_source(source: &str) -> Option<Pattern> {
        [
            Pattern::HttpUrl,
            Pattern::NoWhitespace,
            Pattern::AwsRegion,
            Pattern::StreamName,
            Pattern::ServiceBusName,
        ]
        .into_iter()
        .find(|p| p.source() == source)
    }
}

/// A field's key, kind, whether it is required and sensitive, and its
/// pattern: what a client's form relies on ([`Field::contract`]).
pub type Contract = (&'static str, &'static str, bool, bool, Option<&'static str>);

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
    /// A text that may span lines (a pasted key file). Every other text
    /// ends up in a header, a URL or a protocol field, where a line break
    /// or another control character can never be sent, so it is refused
    /// when the destination is saved (`destination_checks`). Not served.
    pub multiline: bool,
}

/// The base the declarations (`declarations.rs`) override: an optional plain
/// text field.
pub(crate) const TEXT: Field = Field {
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
    multiline: false,
};

impl Field {
    /// The columns Outpost's clients depend on: (key, type, required,
    /// sensitive, pattern). The types' tests pin them, so that a careless
    /// edit shows up as a failed test, not as a client form that silently
    /// changed.
    pub fn contract(&self) -> Contract {
        (
            self.key,
            self.kind.as_str(),
            self.required,
            self.sensitive,
            self.pattern.map(Pattern::source),
        )
    }

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
    pub kind: DestinationKind,
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
    /// Where a user gets the credentials, for types that need a setup step
    /// elsewhere first (Hookdeck's token).
    pub setup_link: Option<SetupLink>,
    /// How to set the destination up, in Markdown (Outpost's
    /// `instructions`; the portal shows them beside the form).
    pub instructions: &'static str,
}

/// A link to where a type's credentials are made, and its call to action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetupLink {
    pub href: &'static str,
    pub cta: &'static str,
}

impl DestinationType {
    /// The single-line text fields of `config` and `credentials`, as
    /// (section, field).
    pub fn single_line_fields(&self) -> impl Iterator<Item = (&'static str, &Field)> {
        let config = self.config_fields.iter().map(|f| ("config", f));
        let credentials = self.credential_fields.iter().map(|f| ("credentials", f));
        config
            .chain(credentials)
            .filter(|(_, f)| matches!(f.kind, FieldKind::Text | FieldKind::Select) && !f.multiline)
    }

    /// The document `GET /api/v1/destination-types` serves for this type.
    pub fn to_json(&self) -> Value {
        let fields = |fs: &[Field], credential: bool| -> Value {
            Value::Array(fs.iter().map(|f| f.to_json(credential)).collect())
        };
        let mut doc = json!({
            "type": self.kind,
            "label": self.label,
            "description": self.description,
            "link": self.link,
            "icon": self.icon,
            "config_fields": fields(self.config_fields, false),
            "credential_fields": fields(self.credential_fields, true),
            "instructions": self.instructions,
        });
        if let Some(link) = self.setup_link {
            doc["setup_link"] = json!({"href": link.href, "cta": link.cta});
        }
        doc
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

    /// `config` in its stored, all-strings form: a boolean checkbox becomes
    /// `"true"`/`"false"` and a key-value object its JSON text. Call after
    /// [`validate`](Self::validate) (in `schema.rs`); other values pass
    /// through unchanged.
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
pub(crate) const CHECKBOX_STRINGS: [(&str, bool); 4] = [
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::find;

    #[test]
    fn to_json_has_the_served_shape() {
        let doc = find("rabbitmq").expect("rabbitmq").to_json();
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
                "credential_fields",
                "instructions"
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

        let webhook = find("webhook").expect("webhook").to_json();
        assert_eq!(webhook["credential_fields"], json!([]));
        assert_eq!(
            webhook["config_fields"][1]["key_placeholder"],
            "Header name"
        );
        assert!(webhook["config_fields"][0].get("sensitive").is_none());
    }

    #[test]
    fn normalize_config_stores_strings() {
        let rabbit = find("rabbitmq").expect("rabbitmq");
        assert_eq!(
            rabbit.normalize_config(&json!({"server_url": "mq:5672", "tls": false})),
            json!({"server_url": "mq:5672", "tls": "false"})
        );
        let webhook = find("webhook").expect("webhook");
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
    fn field_to_json_serves_options_and_bounds() {
        const OPTIONS: &[SelectOption] = &[SelectOption {
            label: "Plain",
            value: "plain",
        }];
        let select = Field {
            kind: FieldKind::Select,
            options: OPTIONS,
            ..TEXT
        };
        assert_eq!(
            select.to_json(false)["options"],
            json!([{"label": "Plain", "value": "plain"}])
        );
        let bounded = Field {
            min_length: Some(2),
            max_length: Some(3),
            ..TEXT
        };
        let doc = bounded.to_json(false);
        assert_eq!(
            (doc["minlength"].clone(), doc["maxlength"].clone()),
            (json!(2), json!(3))
        );
    }

    #[test]
    fn sensitive_and_encrypted_keys() {
        let s3 = find("aws_s3").expect("s3");
        assert_eq!(
            s3.sensitive_keys().collect::<Vec<_>>(),
            ["key", "secret", "session"]
        );
        let rabbit = find("rabbitmq").expect("rabbitmq");
        assert_eq!(rabbit.sensitive_keys().collect::<Vec<_>>(), ["password"]);
        let webhook = find("webhook").expect("webhook");
        assert_eq!(webhook.sensitive_keys().count(), 0);
        assert_eq!(
            webhook.encrypted_keys().collect::<Vec<_>>(),
            ["secret", "previous_secret"]
        );
    }
}
