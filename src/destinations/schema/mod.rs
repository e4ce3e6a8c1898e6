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

use super::fields::{DestinationType, Field, FieldError, FieldKind, Pattern, CHECKBOX_STRINGS};
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
        ValidationErrorKind::Pattern { pattern } => match Pattern::from_source(pattern) {
            Some(p) => format!("must be {} ({pattern})", p.expects()),
            None => format!("must match {pattern}"),
        },
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
mod tests;
