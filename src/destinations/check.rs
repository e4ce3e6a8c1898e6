//! Checks of a destination's settings that its field schema cannot express,
//! made when the destination is created or changed so that a setting that
//! could never deliver is refused with a 422 naming the field, instead of
//! failing every attempt until the destination is auto-disabled:
//!
//! - a control character (CR, LF, NUL, tab…) in any single-line value:
//!   every one of them ends up in a header, a URL or a protocol field
//!   (an AWS key in a signature, a SharedAccessSignature in a header),
//!   where it could never be sent;
//! - a webhook URL whose host is an address outbound never connects to (a
//!   literal loopback, private or metadata address, in any of the forms a
//!   URL parser accepts, or `localhost`), or a host name no DNS can hold
//!   (longer than 253 characters, or a label longer than 63). Host *names*
//!   are still checked after DNS resolution at send time: what a name
//!   resolves to can change.
//! - webhook custom headers that are not valid HTTP (a CR/LF in a value, a
//!   name with spaces), that outbound sets itself, or that are more than a
//!   receiver accepts ([`MAX_CUSTOM_HEADERS`], [`MAX_HEADER_VALUE_BYTES`]);
//! - a GCP service account key that is not one or whose `token_uri` is not
//!   an https URL outbound may reach, a Pub/Sub project or topic that
//!   cannot be, an emulator endpoint that is no URL or is blocked;
//! - an Azure Service Bus connection string with a part missing, or scoped
//!   to another queue or topic (`EntityPath`), or a blocked endpoint;
//! - a Hookdeck token that is not one;
//! - for the AWS types: a queue URL that is not an SQS queue's, a region
//!   that is not plausibly an AWS region (see [`super::aws`]), a bucket name
//!   or storage class S3 would refuse, a JMESPath template that does not
//!   compile, a Kinesis endpoint that is not a URL or that outbound may not
//!   reach.
//! - a RabbitMQ address that is not `host[:port][/vhost]` (`amqp_server`).
//! - Kafka brokers that are not a `host:port` list (or are literal
//!   addresses outbound never connects to), a topic name Kafka would
//!   refuse, a partition key template that is not JMESPath.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use super::aws::config as aws;
use super::azure_servicebus::connection::ConnectionString;
use super::fields::FieldError;
use super::gcp_pubsub::key::ServiceAccountKey;
use super::gcp_pubsub::target::PubsubTarget;
use super::hookdeck::token::HookdeckToken;
use super::kafka::brokers::parse_brokers;
use super::kind::DestinationKind;
use super::rabbitmq::server as amqp_server;
use crate::domain::jmespath_template;
use crate::domain::ssrf::NetworkPolicy;

/// What the checks need to know about the deployment.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    /// Which addresses destinations may reach (`DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS`).
    pub network: &'a NetworkPolicy,
    /// The prefix of the headers outbound sets (`DESTINATIONS_WEBHOOK_HEADER_PREFIX`).
    pub header_prefix: &'a str,
}

/// The most custom headers a webhook destination may set: more than a
/// receiver's server usually accepts with ours (Go's and nginx's defaults
/// are far above; 64 leaves room for every real use).
pub const MAX_CUSTOM_HEADERS: usize = 64;
/// The longest custom header value, in bytes: 8 KiB is the smallest
/// header-line limit among common servers (nginx, Apache).
pub const MAX_HEADER_VALUE_BYTES: usize = 8 * 1024;
/// The longest custom header name, in bytes.
const MAX_HEADER_NAME_BYTES: usize = 256;
/// DNS: a host name of at most 253 characters, labels of at most 63.
const MAX_HOST_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// Headers outbound sets on every webhook request, or that describe the
/// connection: a destination cannot replace them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// Every problem with `config` and `credentials` (after the schema passed).
pub fn check(
    kind: DestinationKind,
    config: &Value,
    credentials: &Value,
    ctx: &CheckContext<'_>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    single_line_values(kind, config, credentials, &mut errors);
    match kind {
        DestinationKind::Webhook => {
            if let Some(url) = config.get("url").and_then(Value::as_str) {
                if let Err(message) = reachable_url(url, ctx.network) {
                    errors.push(error("config.url", message));
                }
            }
            custom_headers(config.get("custom_headers"), ctx, &mut errors);
        }
        DestinationKind::GcpPubsub => gcp_pubsub(config, credentials, ctx, &mut errors),
        DestinationKind::AzureServicebus => azure_servicebus(config, credentials, ctx, &mut errors),
        DestinationKind::Hookdeck => {
            if let Some(token) = credentials.get("token").and_then(Value::as_str) {
                if let Err(message) = HookdeckToken::parse(token) {
                    errors.push(error("credentials.token", message));
                }
            }
        }
        DestinationKind::AwsSqs => {
            if let Some(url) = given(config, "queue_url") {
                let checked = aws::parse_queue_url(url)
                    .map(drop)
                    .and_then(|()| reachable_url(url, ctx.network));
                if let Err(message) = checked {
                    errors.push(error("config.queue_url", message));
                }
            }
        }
        DestinationKind::AwsS3 => {
            if let Some(bucket) = given(config, "bucket") {
                if let Err(message) = aws::check_bucket(bucket) {
                    errors.push(error("config.bucket", message));
                }
            }
            region(config, &mut errors);
            template(config, "key_template", &mut errors);
            if let Err(message) = aws::storage_class(given(config, "storage_class")) {
                errors.push(error("config.storage_class", message));
            }
        }
        DestinationKind::AwsKinesis => {
            region(config, &mut errors);
            if let Some(endpoint) = given(config, "endpoint") {
                let checked = aws::check_endpoint(endpoint)
                    .and_then(|()| reachable_url(endpoint, ctx.network));
                if let Err(message) = checked {
                    errors.push(error("config.endpoint", message));
                }
            }
            template(config, "partition_key_template", &mut errors);
        }
        DestinationKind::Rabbitmq => {
            errors.extend(amqp_server::check(config, credentials, ctx.network));
        }
        DestinationKind::Kafka => kafka(config, ctx, &mut errors),
    }
    errors
}

/// Every single-line text of `config` and `credentials` is free of
/// control characters (the declarations mark the few that may span lines).
fn single_line_values(
    kind: DestinationKind,
    config: &Value,
    credentials: &Value,
    errors: &mut Vec<FieldError>,
) {
    for (section, field) in super::fields::get(kind).single_line_fields() {
        let values = if section == "config" {
            config
        } else {
            credentials
        };
        let Some(text) = values.get(field.key).and_then(Value::as_str) else {
            continue;
        };
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            errors.push(error(
                &format!("{section}.{}", field.key),
                format!(
                    "contains a control character ({}); a line break, tab or NUL can never be sent in a header or URL",
                    control_name(c)
                ),
            ));
        }
    }
}

/// How a control character is named in an error.
fn control_name(c: char) -> String {
    match c {
        '\r' => "CR".into(),
        '\n' => "LF".into(),
        '\t' => "tab".into(),
        '\0' => "NUL".into(),
        c => format!("U+{:04X}", u32::from(c)),
    }
}

/// A config field's text, unless blank.
fn given<'a>(config: &'a Value, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `config.region`: the schema checked its shape; this checks that it is
/// plausibly an AWS region.
fn region(config: &Value, errors: &mut Vec<FieldError>) {
    if let Some(region) = given(config, "region") {
        if let Err(message) = aws::check_region(region) {
            errors.push(error("config.region", message));
        }
    }
}

/// A JMESPath template field, when set, must compile.
fn template(config: &Value, key: &str, errors: &mut Vec<FieldError>) {
    if let Some(text) = given(config, key) {
        if let Err(message) = jmespath_template::check(text) {
            errors.push(error(&format!("config.{key}"), message));
        }
    }
}

fn error(field: &str, message: String) -> FieldError {
    FieldError {
        field: field.to_string(),
        message,
    }
}

/// Refuses a URL whose host is a literal address the policy refuses, or a
/// name that always means this machine (`localhost`, RFC 6761). Literal
/// forms are read as a browser reads them (WHATWG URL): `2130706433`,
/// `0x7f.1`, `[::ffff:127.0.0.1]` are all 127.0.0.1.
pub fn reachable_url(url: &str, policy: &NetworkPolicy) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("is not a valid URL: {e}"))?;
    let ip = match parsed.host() {
        None => return Err("has no host".into()),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            host_name_fits_dns(&name)?;
            if name != "localhost" && !name.ends_with(".localhost") {
                return Ok(());
            }
            // localhost is loopback on every machine; allowed only when the
            // operator allows loopback.
            let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
            let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
            return match policy.check(v4).or_else(|_| policy.check(v6)) {
                Ok(()) => Ok(()),
                Err(_) => Err(format!("host {name} is this machine (loopback), which destinations may not reach; DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS can allow it")),
            };
        }
    };
    policy.check(ip).map_err(|_| {
        format!(
            "host {ip} is a loopback, private, link-local or reserved address, which destinations may not reach; DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS can allow it"
        )
    })
}

/// A host name DNS can hold: at most 253 characters, labels of 1 to 63.
fn host_name_fits_dns(name: &str) -> Result<(), String> {
    if name.len() > MAX_HOST_NAME {
        return Err(format!(
            "host name is {} characters long; DNS names have at most {MAX_HOST_NAME}",
            name.len()
        ));
    }
    if let Some(label) = name.split('.').find(|l| l.len() > MAX_LABEL) {
        return Err(format!(
            "host name has a label of {} characters ({}…); DNS labels have at most {MAX_LABEL}",
            label.len(),
            &label[..16]
        ));
    }
    Ok(())
}

/// `custom_headers`: names must be HTTP tokens, values HTTP field values
/// (RFC 9110: no CR, LF, NUL or other control characters but tab), none of
/// them a header outbound sets, and no more of them, nor longer, than a
/// receiver accepts.
fn custom_headers(value: Option<&Value>, ctx: &CheckContext<'_>, errors: &mut Vec<FieldError>) {
    let parsed;
    let map: &Map<String, Value> = match value {
        Some(Value::Object(m)) => m,
        Some(Value::String(s)) if !s.is_empty() => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => {
                parsed = m;
                &parsed
            }
            _ => return, // the schema reports it
        },
        _ => return,
    };
    if map.len() > MAX_CUSTOM_HEADERS {
        errors.push(error(
            "config.custom_headers",
            format!(
                "has {} headers; at most {MAX_CUSTOM_HEADERS} are allowed",
                map.len()
            ),
        ));
    }
    let prefix = ctx.header_prefix.to_ascii_lowercase();
    for (name, value) in map {
        let field = format!("config.custom_headers.{name}");
        let lower = name.to_ascii_lowercase();
        if !is_token(name) {
            errors.push(error(
                &field,
                "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)".into(),
            ));
        } else if name.len() > MAX_HEADER_NAME_BYTES {
            errors.push(error(
                &field,
                format!("is a header name longer than {MAX_HEADER_NAME_BYTES} bytes"),
            ));
        } else if RESERVED_HEADERS.contains(&lower.as_str())
            || (!prefix.is_empty() && lower.starts_with(&prefix))
        {
            errors.push(error(
                &field,
                "is a header outbound sets itself and cannot be replaced".into(),
            ));
        }
        if let Some(v) = value.as_str() {
            if !is_field_value(v) {
                errors.push(error(
                    &field,
                    "is not a valid header value (no line breaks or control characters)".into(),
                ));
            } else if v.len() > MAX_HEADER_VALUE_BYTES {
                errors.push(error(
                    &field,
                    format!(
                        "is {} bytes long; a header value may have at most {MAX_HEADER_VALUE_BYTES}",
                        v.len()
                    ),
                ));
            }
        }
    }
}

/// Kafka: brokers, topic, partition key template.
fn kafka(config: &Value, ctx: &CheckContext<'_>, errors: &mut Vec<FieldError>) {
    let field = |k: &str| config.get(k).and_then(Value::as_str);
    if let Some(brokers) = field("brokers") {
        match parse_brokers(brokers) {
            Err(message) => errors.push(error("config.brokers", message)),
            Ok(brokers) => {
                // The first refused broker is enough to say what is wrong.
                let refused = brokers
                    .iter()
                    .find_map(|b| reachable_url(&format!("http://{b}/"), ctx.network).err());
                if let Some(message) = refused {
                    errors.push(error("config.brokers", message));
                }
            }
        }
    }
    if let Some(topic) = field("topic") {
        if !is_kafka_topic(topic) {
            errors.push(error(
                "config.topic",
                "is not a valid Kafka topic name (1-249 letters, digits, '.', '_' or '-'; not \".\" or \"..\")".into(),
            ));
        }
    }
    if let Some(template) = field("partition_key_template").filter(|t| !t.is_empty()) {
        if let Err(message) = jmespath_template::check(template) {
            errors.push(error("config.partition_key_template", message));
        }
    }
}

/// A topic name Kafka accepts (its `Topic.validate`).
fn is_kafka_topic(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// RFC 9110 `token`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 9110 `field-value`: visible characters, spaces and tabs (and
/// non-ASCII text), no other control characters.
fn is_field_value(s: &str) -> bool {
    s.chars().all(|c| c == '\t' || !c.is_control())
}

/// Pub/Sub: the project and topic make a valid resource name, the
/// endpoint (an emulator or a private endpoint) is a URL the network policy
/// allows, and the credentials are a service account key — except with an
/// endpoint, where any credentials are accepted as in Outpost (an emulator
/// needs none).
fn gcp_pubsub(
    config: &Value,
    credentials: &Value,
    ctx: &CheckContext<'_>,
    errors: &mut Vec<FieldError>,
) {
    let target = match PubsubTarget::parse(config) {
        Ok(target) => target,
        Err(problems) => {
            errors.extend(problems);
            return;
        }
    };
    if let Some(endpoint) = &target.endpoint {
        if let Err(message) = reachable_url(endpoint, ctx.network) {
            errors.push(error("config.endpoint", message));
        }
        return;
    }
    if let Some(key) = credentials
        .get("service_account_json")
        .and_then(Value::as_str)
    {
        let checked = ServiceAccountKey::parse(key)
            .map_err(|e| e.to_string())
            .and_then(|key| token_uri(&key.token_uri, ctx.network));
        if let Err(message) = checked {
            errors.push(error("credentials.service_account_json", message));
        }
    }
}

/// A key's `token_uri`: the signed assertion, a credential good for an
/// hour, is posted there, so it must be https (plain http only to an
/// address the operator allows, as emulators and tests are) and an address
/// outbound may reach.
fn token_uri(uri: &str, policy: &NetworkPolicy) -> Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|e| format!("token_uri is not a valid URL: {e}"))?;
    let allowed_literal = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => policy.is_allowlisted(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => policy.is_allowlisted(IpAddr::V6(ip)),
        _ => false,
    };
    match parsed.scheme() {
        "https" => {}
        "http" if allowed_literal => {}
        _ => return Err("token_uri must be an https:// URL".into()),
    }
    reachable_url(uri, policy).map_err(|message| format!("token_uri {message}"))
}

/// Service Bus: a connection string with every part, for the entity named
/// (a key scoped with `EntityPath` to another queue cannot send here), at
/// an endpoint the network policy allows.
fn azure_servicebus(
    config: &Value,
    credentials: &Value,
    ctx: &CheckContext<'_>,
    errors: &mut Vec<FieldError>,
) {
    let Some(text) = credentials.get("connection_string").and_then(Value::as_str) else {
        return; // the schema reports it
    };
    let field = "credentials.connection_string";
    let connection = match ConnectionString::parse(text) {
        Ok(c) => c,
        Err(message) => {
            errors.push(error(field, message));
            return;
        }
    };
    if let Err(message) = reachable_url(&connection.base_url(), ctx.network) {
        errors.push(error(field, format!("Endpoint {message}")));
    }
    let name = config.get("name").and_then(Value::as_str);
    if let (Some(path), Some(name)) = (&connection.entity_path, name) {
        if path != name {
            errors.push(error(
                "config.name",
                format!("must be {path:?}, the EntityPath the connection string is scoped to"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RSA_KEY: &str = include_str!("../../tests/data/gcp-test-key.pem");
    const EC_KEY: &str = include_str!("../../tests/data/ec-test-key.pem");

    fn ctx(policy: &NetworkPolicy) -> CheckContext<'_> {
        CheckContext {
            network: policy,
            header_prefix: "x-outpost-",
        }
    }

    fn webhook(config: Value, policy: &NetworkPolicy) -> Vec<String> {
        check(DestinationKind::Webhook, &config, &json!({}), &ctx(policy))
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn literal_blocked_hosts_are_refused_in_every_form() {
        let strict = NetworkPolicy::default();
        for url in [
            "http://127.0.0.1/h",
            "http://[::1]/h",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3:8080/",
            "http://0.0.0.0/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://017700000001/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:3000/",
            "http://api.localhost/",
            "http://LOCALHOST./",
        ] {
            let errors = webhook(json!({ "url": url }), &strict);
            assert_eq!(errors.len(), 1, "{url}: {errors:?}");
            assert!(errors[0].starts_with("config.url: host "), "{errors:?}");
        }
        for url in [
            "https://example.com/h",
            "https://93.184.215.14/",
            "http://[2606:4700::1]/",
        ] {
            assert!(webhook(json!({ "url": url }), &strict).is_empty(), "{url}");
        }
        // The allowlist admits what it lists.
        let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
        assert!(webhook(json!({"url": "http://127.0.0.1:9/"}), &loopback).is_empty());
        assert!(webhook(json!({"url": "http://localhost:9/"}), &loopback).is_empty());
        assert_eq!(
            webhook(json!({"url": "http://10.0.0.1/"}), &loopback).len(),
            1
        );
    }

    #[test]
    fn custom_headers_must_be_valid_http_and_not_ours() {
        let policy = NetworkPolicy::default();
        let url = "https://example.com/h";
        let ok = json!({"url": url, "custom_headers": {"X-Api-Key": "k 1\t2", "Authorization": "Bearer é"}});
        assert!(webhook(ok, &policy).is_empty());
        let text = json!({"url": url, "custom_headers": "{\"X-Bad\":\"a\\r\\nb\"}"});
        let errors = webhook(text, &policy);
        assert_eq!(
            errors,
            ["config.custom_headers.X-Bad: is not a valid header value (no line breaks or control characters)"]
        );
        let bad = json!({"url": url, "custom_headers": {
            "a b": "x", "X-Outpost-Signature": "x", "Content-Type": "text/plain", "x": "\u{0}"
        }});
        let errors = webhook(bad, &policy);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors
            .iter()
            .any(|e| e.starts_with("config.custom_headers.a b: is not a valid header name")));
        assert!(errors.iter().any(|e| e
            .starts_with("config.custom_headers.X-Outpost-Signature: is a header outbound sets")));
        assert!(errors.iter().any(
            |e| e.starts_with("config.custom_headers.Content-Type: is a header outbound sets")
        ));
    }

    #[test]
    fn control_characters_are_refused_in_every_single_line_value() {
        let policy = NetworkPolicy::default();
        let run = |kind, config: Value, credentials: Value| -> Vec<String> {
            check(kind, &config, &credentials, &ctx(&policy))
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect()
        };
        let sqs = json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/q"});
        let errors = run(
            DestinationKind::AwsSqs,
            sqs.clone(),
            json!({"key": "AKIA\r\nX-Injected: 1", "secret": "s\u{0}"}),
        );
        assert_eq!(
            errors,
            [
                "credentials.key: contains a control character (CR); a line break, tab or NUL can never be sent in a header or URL",
                "credentials.secret: contains a control character (NUL); a line break, tab or NUL can never be sent in a header or URL",
            ]
        );
        let errors = run(
            DestinationKind::AwsS3,
            json!({"bucket": "b-1", "region": "eu-west-1"}),
            json!({"key": "AKIA", "secret": "s", "session": "t\u{7f}t"}),
        );
        assert_eq!(
            errors,
            ["credentials.session: contains a control character (U+007F); a line break, tab or NUL can never be sent in a header or URL"]
        );
        assert!(run(
            DestinationKind::AwsSqs,
            sqs,
            json!({"key": "AKIA", "secret": "s"})
        )
        .is_empty());
        let azure = run(
            DestinationKind::AzureServicebus,
            json!({"name": "orders\n"}),
            json!({"connection_string": "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=send\n;SharedAccessKey=k"}),
        );
        let fields: Vec<&str> = azure.iter().map(|e| e.split(':').next().unwrap()).collect();
        assert!(fields.contains(&"config.name"), "{azure:?}");
        assert!(
            fields.contains(&"credentials.connection_string"),
            "{azure:?}"
        );
        // A key file is pasted whole, line breaks and all.
        let key = json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
                         "private_key": RSA_KEY})
        .to_string();
        let pretty = key.replace(",", ",\n");
        assert!(run(
            DestinationKind::GcpPubsub,
            json!({"project_id": "p", "topic": "t"}),
            json!({ "service_account_json": pretty }),
        )
        .is_empty());
    }

    #[test]
    fn custom_headers_and_host_names_stay_within_what_receivers_and_dns_accept() {
        let policy = NetworkPolicy::default();
        let url = "https://example.com/h";
        let many: serde_json::Map<String, Value> = (0..=MAX_CUSTOM_HEADERS)
            .map(|i| (format!("X-H{i}"), json!("v")))
            .collect();
        let errors = webhook(json!({"url": url, "custom_headers": many}), &policy);
        assert_eq!(
            errors,
            ["config.custom_headers: has 65 headers; at most 64 are allowed"]
        );
        let long = "v".repeat(MAX_HEADER_VALUE_BYTES + 1);
        let errors = webhook(
            json!({"url": url, "custom_headers": {"X-Big": long}}),
            &policy,
        );
        assert_eq!(
            errors,
            ["config.custom_headers.X-Big: is 8193 bytes long; a header value may have at most 8192"]
        );
        let fits = "v".repeat(MAX_HEADER_VALUE_BYTES);
        assert!(webhook(
            json!({"url": url, "custom_headers": {"X-Big": fits}}),
            &policy
        )
        .is_empty());

        let label = "a".repeat(63);
        let host = format!("{label}.{label}.{label}.{}.com", "b".repeat(57));
        assert_eq!(host.len(), 253);
        assert!(webhook(json!({ "url": format!("https://{host}/") }), &policy).is_empty());
        let errors = webhook(json!({ "url": format!("https://x{host}/") }), &policy);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("254 characters long"), "{errors:?}");
        let errors = webhook(
            json!({ "url": format!("https://{}.com/", "a".repeat(64)) }),
            &policy,
        );
        assert!(errors[0].contains("label of 64 characters"), "{errors:?}");
        // The same rule for every host a type reaches, e.g. Kafka brokers.
        let brokers = format!("{}.com:9092", "a".repeat(64));
        let errors = check(
            DestinationKind::Kafka,
            &json!({ "brokers": brokers, "topic": "t" }),
            &json!({}),
            &ctx(&policy),
        );
        assert_eq!(errors[0].field, "config.brokers");
    }

    #[test]
    fn a_gcp_key_must_send_its_assertion_over_https_to_an_address_outbound_may_reach() {
        let strict = NetworkPolicy::default();
        let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
        let run = |token_uri: &str, policy: &NetworkPolicy| {
            let key =
                json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
                             "private_key": RSA_KEY, "token_uri": token_uri})
                .to_string();
            check(
                DestinationKind::GcpPubsub,
                &json!({"project_id": "p", "topic": "t"}),
                &json!({ "service_account_json": key }),
                &ctx(policy),
            )
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
        };
        assert!(run("https://oauth2.googleapis.com/token", &strict).is_empty());
        for (uri, says) in [
            (
                "http://oauth2.googleapis.com/token",
                "must be an https:// URL",
            ),
            (
                "https://169.254.169.254/token",
                "token_uri host 169.254.169.254",
            ),
            ("https://[::ffff:0:7f00:1]/token", "token_uri host"),
            ("http://127.0.0.1:9/token", "must be an https:// URL"),
        ] {
            let errors = run(uri, &strict);
            assert_eq!(errors.len(), 1, "{uri}: {errors:?}");
            assert!(
                errors[0].starts_with("credentials.service_account_json: ")
                    && errors[0].contains(says),
                "{uri}: {errors:?}"
            );
        }
        // An address the operator allows may be plain http (an emulator).
        assert!(run("http://127.0.0.1:9/token", &loopback).is_empty());
    }

    fn aws(kind: DestinationKind, config: Value, policy: &NetworkPolicy) -> Vec<String> {
        check(
            kind,
            &config,
            &json!({"key": "k", "secret": "s"}),
            &ctx(policy),
        )
        .into_iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect()
    }

    #[test]
    fn sqs_queue_urls_must_be_queues_outbound_may_reach() {
        let strict = NetworkPolicy::default();
        let ok =
            json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo"});
        assert!(aws(DestinationKind::AwsSqs, ok, &strict).is_empty());
        for (url, says) in [
            (
                "https://sqs.eu-west-1.amazonaws.com/orders",
                "config.queue_url: must end in",
            ),
            (
                "https://sqs.eu-wset-1.amazonaws.com/123456789012/q",
                "config.queue_url: host",
            ),
            (
                "http://127.0.0.1:5000/123456789012/q",
                "config.queue_url: host 127.0.0.1",
            ),
            (
                "http://169.254.169.254/123456789012/q",
                "config.queue_url: host 169.254",
            ),
        ] {
            let errors = aws(DestinationKind::AwsSqs, json!({"queue_url": url}), &strict);
            assert_eq!(errors.len(), 1, "{url}: {errors:?}");
            assert!(errors[0].starts_with(says), "{url}: {errors:?}");
        }
        let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
        let local = json!({"queue_url": "http://127.0.0.1:5000/123456789012/q"});
        assert!(aws(DestinationKind::AwsSqs, local, &loopback).is_empty());
    }

    #[test]
    fn s3_buckets_regions_templates_and_storage_classes() {
        let policy = NetworkPolicy::default();
        let ok = json!({"bucket": "events.example.com", "region": "eu-central-1",
                        "key_template": "join('/', [time.year, metadata.\"event-id\"])",
                        "storage_class": "standard_ia"});
        assert!(aws(DestinationKind::AwsS3, ok, &policy).is_empty());
        let bad = json!({"bucket": "a/b", "region": "eu-middle-1",
                         "key_template": "join('', [data.a", "storage_class": "COLD"});
        let errors = aws(DestinationKind::AwsS3, bad, &policy);
        let fields: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "config.bucket",
                "config.region",
                "config.key_template",
                "config.storage_class"
            ],
            "{errors:?}"
        );
        assert!(errors[2].contains("JMESPath"), "{errors:?}");
    }

    #[test]
    fn kinesis_regions_endpoints_and_templates() {
        let strict = NetworkPolicy::default();
        let ok = json!({"stream_name": "s", "region": "us-west-2",
                        "endpoint": "https://kinesis.example.com", "partition_key_template": "data.user_id"});
        assert!(aws(DestinationKind::AwsKinesis, ok, &strict).is_empty());
        let bad = json!({"stream_name": "s", "region": "us-west-0",
                         "endpoint": "http://10.0.0.5:4566", "partition_key_template": "data.["});
        let errors = aws(DestinationKind::AwsKinesis, bad, &strict);
        let fields: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "config.region",
                "config.endpoint",
                "config.partition_key_template"
            ],
            "{errors:?}"
        );
    }

    #[test]
    fn gcp_service_accounts_are_real_keys_unless_emulated() {
        let policy = NetworkPolicy::default();
        let run = |config: Value, sa: &str| {
            check(
                DestinationKind::GcpPubsub,
                &config,
                &json!({ "service_account_json": sa }),
                &ctx(&policy),
            )
        };
        let config = json!({"project_id": "p", "topic": "t"});
        let good = json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
                          "private_key": RSA_KEY})
        .to_string();
        assert!(run(config.clone(), &good).is_empty());
        for (sa, says) in [
            ("not-valid-json".to_string(), "JSON key file"),
            (
                json!({"project_id": "p"}).to_string(),
                "has no type, client_email, private_key",
            ),
            (
                json!({"type": "user", "client_email": "a", "private_key": RSA_KEY}).to_string(),
                "service_account",
            ),
            (
                json!({"type": "service_account", "client_email": "a", "private_key": "nope"})
                    .to_string(),
                "PEM RSA",
            ),
            (
                json!({"type": "service_account", "client_email": "a", "private_key": EC_KEY})
                    .to_string(),
                "PEM RSA",
            ),
        ] {
            let errors = run(config.clone(), &sa);
            assert_eq!(errors.len(), 1, "{sa}");
            assert_eq!(errors[0].field, "credentials.service_account_json");
            assert!(errors[0].message.contains(says), "{}", errors[0].message);
        }
        // With an endpoint any credentials go, as in Outpost; the endpoint
        // itself must be reachable under the network policy.
        let emulated = json!({"project_id": "p", "topic": "t", "endpoint": "localhost:8085"});
        let errors = run(emulated.clone(), "not-valid-json");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "config.endpoint");
        assert!(
            errors[0].message.contains("loopback"),
            "{}",
            errors[0].message
        );
        let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
        let errors = check(
            DestinationKind::GcpPubsub,
            &emulated,
            &json!({"service_account_json": "not-valid-json"}),
            &ctx(&loopback),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let errors = run(json!({"project_id": "p/x", "topic": "goog"}), &good);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["config.project_id", "config.topic"]);
    }

    fn azure(name: &str, connection_string: &str, policy: &NetworkPolicy) -> Vec<String> {
        check(
            DestinationKind::AzureServicebus,
            &json!({ "name": name }),
            &json!({ "connection_string": connection_string }),
            &ctx(policy),
        )
        .into_iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect()
    }

    #[test]
    fn azure_connection_strings_need_every_part_and_the_right_entity() {
        let policy = NetworkPolicy::default();
        let ns = "Endpoint=sb://acme.servicebus.windows.net/";
        assert!(azure(
            "orders",
            &format!("{ns};SharedAccessKeyName=send;SharedAccessKey=k"),
            &policy
        )
        .is_empty());
        assert_eq!(
            azure("orders", &format!("{ns};SharedAccessKeyName=send"), &policy),
            ["credentials.connection_string: has no SharedAccessKey"]
        );
        assert_eq!(
            azure("orders", "SharedAccessKeyName=send;SharedAccessKey=k", &policy)[0],
            "credentials.connection_string: has no Endpoint (Endpoint=sb://<namespace>.servicebus.windows.net/)"
        );
        assert_eq!(
            azure("orders", &format!("{ns};SharedAccessKeyName=s;SharedAccessKey=k;EntityPath=invoices"), &policy),
            ["config.name: must be \"invoices\", the EntityPath the connection string is scoped to"]
        );
        let local = "Endpoint=sb://127.0.0.1:5300;SharedAccessKeyName=s;SharedAccessKey=k;UseDevelopmentEmulator=true";
        let errors = azure("orders", local, &policy);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("credentials.connection_string: Endpoint host 127.0.0.1"),
            "{errors:?}"
        );
        assert!(azure(
            "orders",
            local,
            &NetworkPolicy::parse("127.0.0.0/8").unwrap()
        )
        .is_empty());
    }

    #[test]
    fn hookdeck_tokens_must_be_tokens() {
        use base64::Engine;
        let policy = NetworkPolicy::default();
        let run = |token: &str| {
            check(
                DestinationKind::Hookdeck,
                &json!({}),
                &json!({ "token": token }),
                &ctx(&policy),
            )
        };
        let good = base64::engine::general_purpose::STANDARD.encode("src_1:secret");
        assert!(run(&good).is_empty());
        let errors = run("t");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "credentials.token");
        assert!(errors[0].message.starts_with("is not a Hookdeck token"));
    }

    #[test]
    fn kafka_brokers_topics_and_templates_are_checked() {
        let strict = NetworkPolicy::default();
        let run = |config: Value, policy: &NetworkPolicy| -> Vec<String> {
            check(DestinationKind::Kafka, &config, &json!({}), &ctx(policy))
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect()
        };
        let good = json!({"brokers": "b1.example.com:9092, b2.example.com:9093", "topic": "orders.v1",
                          "partition_key_template": "data.customer_id", "sasl_mechanism": "plain"});
        assert!(run(good, &strict).is_empty());
        let errors = run(
            json!({"brokers": "b1.example.com", "topic": "bad topic", "partition_key_template": "data.["}),
            &strict,
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("config.brokers: \"b1.example.com\" has no port"));
        assert!(errors[1].starts_with("config.topic: is not a valid Kafka topic name"));
        assert!(errors[2].starts_with("config.partition_key_template: is not a valid JMESPath"));
        for brokers in [
            "10.0.0.5:9092",
            "ok.example.com:9092,localhost:9092",
            "127.1:9092",
        ] {
            let errors = run(json!({ "brokers": brokers, "topic": "t" }), &strict);
            assert_eq!(errors.len(), 1, "{brokers}: {errors:?}");
            assert!(errors[0].starts_with("config.brokers: host "), "{errors:?}");
        }
        let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
        assert!(run(
            json!({"brokers": "127.0.0.1:9092", "topic": "t"}),
            &loopback
        )
        .is_empty());
        for topic in [".", "..", "", &"t".repeat(250)] {
            assert_eq!(run(json!({ "topic": topic }), &strict).len(), 1, "{topic}");
        }
    }
}
