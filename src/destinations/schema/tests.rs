//! The schema's rules, on a made-up type that uses every kind of field, and
//! every registered type held to them through its example
//! ([`Entry::example`](crate::destinations::registry::Entry)). What one
//! type's fields accept is that type's test, in its folder.

use serde_json::{json, Value};

use super::*;
use crate::destinations::fields::{Pattern, SelectOption, TEXT};
use crate::destinations::kind::DestinationKind;
use crate::destinations::registry::{entry, served_declaration};
use crate::domain::signature::WebhookMode;

const AUTH: &[SelectOption] = &[
    SelectOption {
        label: "Plain",
        value: "plain",
    },
    SelectOption {
        label: "SCRAM",
        value: "scram-sha-256",
    },
];

/// Not registered: it is checked through a [`TypeSchema`] of its own.
static SAMPLE: DestinationType = DestinationType {
    kind: DestinationKind::Webhook,
    label: "Sample",
    description: "",
    link: "",
    icon: "",
    config_fields: &[
        Field {
            key: "address",
            required: true,
            pattern: Some(Pattern::HttpUrl),
            ..TEXT
        },
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
            options: AUTH,
            ..TEXT
        },
        Field {
            key: "secure",
            kind: FieldKind::Checkbox,
            default: Some("on"),
            ..TEXT
        },
        Field {
            key: "headers",
            kind: FieldKind::KeyValueMap,
            ..TEXT
        },
    ],
    credential_fields: &[
        Field {
            key: "user",
            required: true,
            ..TEXT
        },
        Field {
            key: "password",
            required: true,
            sensitive: true,
            ..TEXT
        },
    ],
    managed_credentials: &["secret", "rotate_secret"],
    unmasked_secrets: &["secret"],
    instructions: "# Sample\n",
    setup_link: None,
};

const USER: &str = r#"{"user": "u", "password": "p"}"#;

fn credentials() -> Value {
    serde_json::from_str(USER).expect("json")
}

/// `{"field": "message"}` pairs for a config and credentials of [`SAMPLE`].
fn errors(config: Value, credentials: Value) -> Vec<(String, String)> {
    match TypeSchema::new(&SAMPLE).check(&SAMPLE, &config, &credentials) {
        Ok(()) => vec![],
        Err(es) => es.into_iter().map(|e| (e.field, e.message)).collect(),
    }
}

fn fields(config: Value, credentials: Value) -> Vec<String> {
    errors(config, credentials)
        .into_iter()
        .map(|(f, _)| f)
        .collect()
}

fn one(field: &str, message: &str) -> Vec<(String, String)> {
    vec![(field.to_string(), message.to_string())]
}

fn address(extra: Value) -> Value {
    let mut config = json!({"address": "https://x.io"});
    for (k, v) in extra.as_object().expect("object") {
        config[k] = v.clone();
    }
    config
}

fn instance(config: &Value, credentials: &Value) -> Value {
    json!({"config": config, "credentials": credentials})
}

#[test]
fn every_type_has_a_schema_that_compiles_and_is_served() {
    for kind in DestinationKind::ALL {
        let t = entry(kind).declaration;
        let schema = TypeSchema::of(t).expect("registered");
        if let Err(e) = &schema.validator {
            panic!("the {kind} schema does not compile: {e}");
        }
        assert!(std::ptr::eq(t.json_schema(), &schema.document));
        assert!(
            jsonschema::meta::is_valid(t.json_schema()),
            "{kind} schema is not a valid draft 2020-12 schema"
        );
        // A description served in another mode shares the type's schema.
        let standard = served_declaration(kind, WebhookMode::Standard);
        assert!(std::ptr::eq(standard.json_schema(), t.json_schema()));
    }
}

/// What the portal does with a served schema: compile it with stock
/// options and judge a form's values with it. Every type's example passes,
/// and breaking any one field of it is refused.
#[test]
fn every_type_accepts_its_example_and_refuses_it_broken() {
    for kind in DestinationKind::ALL {
        let row = entry(kind);
        let t = row.declaration;
        let v = jsonschema::validator_for(t.json_schema()).expect("compiles");
        let (config, credentials) = (row.example)();
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
        assert_eq!(t.validate(&config, &credentials), Ok(()), "{kind} example");

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
}

#[test]
fn valid_input_passes_and_blank_means_absent() {
    assert_eq!(errors(address(json!({})), credentials()), []);
    let blanks = json!({"name": "", "code": null, "auth": "", "secure": "", "headers": ""});
    assert_eq!(errors(address(blanks), credentials()), []);
    let all = json!({"name": "ab", "code": "a.b", "auth": "plain", "secure": true,
                     "headers": {"X-A": "1"}});
    assert_eq!(errors(address(all), credentials()), []);
    assert_eq!(
        errors(address(json!({})), Value::Null),
        [
            ("credentials.user".to_string(), "is required".to_string()),
            (
                "credentials.password".to_string(),
                "is required".to_string()
            ),
        ]
    );
}

#[test]
fn missing_and_empty_required_fields_are_reported_together() {
    assert_eq!(
        fields(json!({"address": ""}), json!({"password": null})),
        ["config.address", "credentials.user", "credentials.password"]
    );
    assert_eq!(
        errors(json!({}), credentials()),
        one("config.address", "is required")
    );
}

#[test]
fn values_must_be_strings_and_match_patterns() {
    assert_eq!(
        fields(
            json!({"address": "not a url"}),
            json!({"user": 42, "password": "p"})
        ),
        ["config.address", "credentials.user"]
    );
    assert_eq!(
        errors(json!({"address": "ftp://x"}), credentials()),
        one(
            "config.address",
            r"must be an http:// or https:// URL, without spaces (^https?:\/\/[^\s]+$)"
        )
    );
}

#[test]
fn unknown_keys_and_non_objects_are_errors() {
    assert_eq!(
        fields(
            address(json!({"method": "PUT"})),
            json!({"user": "u", "password": "p", "token": "t"})
        ),
        ["config.method", "credentials.token"]
    );
    assert_eq!(
        fields(json!("https://x.io"), json!([])),
        ["config", "credentials"]
    );
    assert_eq!(
        errors(json!([]), credentials()),
        one("config", "must be an object")
    );
}

#[test]
fn a_checkbox_takes_booleans_or_their_strings() {
    for ok in ["true", "false", "on", "off"]
        .map(Value::from)
        .into_iter()
        .chain([json!(true), json!(false)])
    {
        assert_eq!(errors(address(json!({"secure": ok})), credentials()), []);
    }
    for bad in [json!("yes"), json!(1)] {
        assert_eq!(
            errors(address(json!({"secure": bad})), credentials()),
            one("config.secure", r#"must be "true" or "false""#)
        );
    }
}

#[test]
fn a_key_value_map_takes_an_object_or_its_json_text() {
    for ok in [json!({"X-A": "1"}), json!("{\"X-A\":\"1\"}"), json!({})] {
        assert_eq!(errors(address(json!({"headers": ok})), credentials()), []);
    }
    for bad in [
        json!({"X-A": 1}),
        json!("{oops"),
        json!(["X-A"]),
        json!("{\"a\":{}}"),
    ] {
        assert_eq!(
            fields(address(json!({"headers": bad})), credentials()),
            ["config.headers"]
        );
    }
    assert_eq!(
        errors(address(json!({"headers": "[1]"})), credentials()),
        one("config.headers", "must be a JSON object of strings")
    );
    assert_eq!(
        errors(
            address(json!({"headers": {"X-A": "1", "X-B": 2, "X-C": true}})),
            credentials()
        ),
        one("config.headers", r#"value of "X-B" must be a string"#)
    );
}

#[test]
fn length_bounds_and_selects_are_checked() {
    assert_eq!(
        errors(address(json!({"name": "äöü"})), credentials()),
        [],
        "counted in characters"
    );
    assert_eq!(
        errors(address(json!({"name": "a"})), credentials()),
        one("config.name", "must be at least 2 characters")
    );
    assert_eq!(
        errors(address(json!({"name": "abcd"})), credentials()),
        one("config.name", "must be at most 3 characters")
    );
    assert_eq!(
        errors(address(json!({"code": "a/"})), credentials()),
        one("config.code", "must be at least 3 characters"),
        "one message per field, the length first"
    );
    assert_eq!(
        errors(address(json!({"auth": "scram"})), credentials()),
        one("config.auth", "must be one of plain, scram-sha-256")
    );
    assert_eq!(
        errors(address(json!({"auth": 5})), credentials()),
        one("config.auth", "must be a string")
    );
    let schema = TypeSchema::new(&SAMPLE);
    assert_eq!(
        schema.document["properties"]["config"]["properties"]["auth"]["enum"],
        json!(["plain", "scram-sha-256"])
    );
    assert_eq!(
        schema.document["properties"]["config"]["properties"]["secure"]["default"],
        "on"
    );
}

#[test]
fn managed_credentials_are_accepted_never_required() {
    let managed = json!({
        "user": "u", "password": "p",
        "secret": "whsec_new", "rotate_secret": true,
    });
    assert_eq!(errors(address(json!({})), managed), []);
    let rotate = json!({"user": "u", "password": "p", "rotate_secret": "true"});
    assert_eq!(errors(address(json!({})), rotate), []);
    // Managed and unknown keys follow the declared fields in input order;
    // an unknown key is refused even when blank.
    assert_eq!(
        errors(
            address(json!({})),
            json!({"user": "u", "password": "p", "token": "t", "secret": 5,
                   "rotate_secret": "soon", "zzz": null})
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
    let schema = TypeSchema::new(&SAMPLE);
    assert_eq!(
        schema.document["properties"]["credentials"]["properties"]["secret"]["readOnly"],
        true
    );
}

/// The patterns mean the same in the service (Rust's `regex`) as in the
/// browsers that use the served schema (ECMAScript).
#[test]
fn patterns_are_matched_by_the_served_regex() {
    use Pattern::*;
    let cases = [
        (HttpUrl, "https://example.com/hook?a=1", true),
        (HttpUrl, "http://x", true),
        (HttpUrl, "https://", false),
        (HttpUrl, "ftp://example.com", false),
        (HttpUrl, "https://exa mple.com", false),
        (HttpUrl, "https://example.com/\u{a0}", false),
        (HttpUrl, "HTTPS://example.com", false),
        (HttpUrl, " https://example.com", false),
        (HttpUrl, "https://example.com\n", false),
        // `\s` means what it means in ECMAScript: U+FEFF is whitespace,
        // U+0085 not.
        (HttpUrl, "https://example.com/\u{feff}", false),
        (HttpUrl, "https://example.com/\u{85}", true),
        (NoWhitespace, "rabbit:5672", true),
        (NoWhitespace, "a\tb", false),
        (NoWhitespace, "", false),
        (AwsRegion, "us-east-1", true),
        (AwsRegion, "ap-southeast-12", true),
        (AwsRegion, "us-gov-west-1", false),
        (AwsRegion, "usa-east-1", false),
        (AwsRegion, "US-east-1", false),
        (AwsRegion, "us-east-", false),
        (AwsRegion, "us--1", false),
        (StreamName, "orders.v1_stream-2", true),
        (StreamName, "orders/v1", false),
        (StreamName, "", false),
        (ServiceBusName, "orders.v1", true),
        (ServiceBusName, "a", true),
        (ServiceBusName, "-orders", false),
        (ServiceBusName, "orders.", false),
    ];
    for (pattern, value, want) in cases {
        assert_eq!(Pattern::from_source(pattern.source()), Some(pattern));
        let schema = json!({"type": "string", "pattern": pattern.source()});
        let v = jsonschema::draft202012::options()
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(&schema)
            .expect("compiles");
        assert_eq!(v.is_valid(&json!(value)), want, "{pattern:?} on {value:?}");
        let stock = jsonschema::validator_for(&schema).expect("compiles");
        assert_eq!(
            stock.is_valid(&json!(value)),
            want,
            "{pattern:?} on {value:?} (stock)"
        );
    }
}

#[test]
fn an_unregistered_type_has_no_schema() {
    assert_eq!(SAMPLE.json_schema(), &json!(false));
    assert!(SAMPLE.validate(&json!({}), &json!({})).is_err());
}
