//! S3: one `PutObject` per event, as Outpost writes it.
//!
//! - the object is the event's data, byte for byte, `content-type:
//!   application/json`, with its SHA-256 (`x-amz-checksum-sha256`, base64)
//!   for S3 to verify;
//! - its key comes from `config.key_template`, a JMESPath expression over
//!   `{"data": <the event's data>, "metadata": {…}, "time": {…}}` (see
//!   [`jmespath_template::time_fields`]), by default
//!   `join('', [time.rfc3339_nano, '_', metadata."event-id", '.json'])`;
//!   a template that yields nothing for an event fails that delivery for
//!   good;
//! - the metadata map becomes user metadata, `x-amz-meta-<key>` (S3 keeps
//!   names lowercase; a value that is not ASCII is sent RFC 2047-encoded,
//!   which S3 decodes);
//! - `x-amz-storage-class` is `config.storage_class`, STANDARD by default.
//!
//! The bucket is addressed virtual-host style on AWS
//! (`https://<bucket>.s3.<region>.amazonaws.com/<key>`, path style for
//! bucket names with dots, which a wildcard certificate cannot cover), and
//! path style (`<endpoint>/<bucket>/<key>`) on an endpoint the deployment
//! sets (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`), as emulators need.

use crate::domain::attempt_code::AttemptCode;
use std::sync::Arc;

use base64::Engine;
use hyper::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::sign::Flavor;
use super::{call, credentials, delivered, field, metadata_json, unusable, Call, Settings};
use super::{AWS_KEY, AWS_REGION_FIELD, AWS_SECRET, AWS_SESSION};
use crate::destinations::aws::config::{dns_suffix, storage_class};
use crate::destinations::check::{error, given, template, CheckContext};
use crate::destinations::fields::{icon, DestinationType, Field, FieldError, TEXT};
use crate::destinations::kind::DestinationKind;
use crate::destinations::sender::{
    BoxFuture, Failure, Message, Sender, SenderContext, Sent, Target,
};
use crate::destinations::target::{Configured, DestinationTarget};
use crate::domain::jmespath_template::{self, DEFAULT_S3_KEY_TEMPLATE};
use crate::net::http_client::HttpSender;

pub static DECLARATION: DestinationType = DestinationType {
    kind: DestinationKind::AwsS3,
    label: "AWS S3",
    description: "Write each event as an object to an Amazon S3 bucket",
    link: "https://aws.amazon.com/s3/",
    icon: icon!(
        "#5E8E1B",
        r#"<ellipse cx="8" cy="5" rx="4" ry="1.5"/><path d="M4 5l.8 6.5c.2 1 6.2 1 6.4 0L12 5"/>"#
    ),
    config_fields: &[
        Field {
            key: "bucket",
            label: "Bucket",
            description: "The name of the S3 bucket",
            required: true,
            ..TEXT
        },
        AWS_REGION_FIELD,
        Field {
            key: "key_template",
            label: "Object key template",
            description: "A JMESPath expression for each object's key; by default the event time, an underscore, the event ID and .json",
            placeholder: Some(
                r#"join('/', [time.year, time.month, time.day, metadata."event-id", '.json'])"#,
            ),
            ..TEXT
        },
        Field {
            key: "storage_class",
            label: "Storage class",
            description: "The S3 storage class of the objects, such as STANDARD or GLACIER",
            default: Some("STANDARD"),
            ..TEXT
        },
    ],
    credential_fields: &[AWS_KEY, AWS_SECRET, AWS_SESSION],
    managed_credentials: &[],
    unmasked_secrets: &[],
    instructions: include_str!("s3_instructions.md"),
    setup_link: None,
};

/// A bucket name S3 accepts, a plausible region, a key template that
/// compiles, a storage class S3 knows.
pub fn check(config: &Value, _credentials: &Value, ctx: &CheckContext<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let _ = ctx;
    if let Some(bucket) = given(config, "bucket") {
        if let Err(message) = super::config::check_bucket(bucket) {
            errors.push(error("config.bucket", message));
        }
    }
    super::check_region(config, &mut errors);
    template(config, "key_template", &mut errors);
    if let Err(message) = super::config::storage_class(given(config, "storage_class")) {
        errors.push(error("config.storage_class", message));
    }
    errors
}

/// The bucket and its region, and the bucket in the AWS console.
pub fn target(d: &Configured<'_>) -> DestinationTarget {
    let (bucket, region) = (d.config("bucket"), d.config("region"));
    DestinationTarget::with_url(
        format!("{bucket} in {region}"),
        format!("https://s3.console.aws.amazon.com/s3/buckets/{bucket}?region={region}"),
    )
}

/// S3's longest object key, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// The document key templates see.
pub fn template_document(message: &Message<'_>) -> Value {
    let data = serde_json::from_str::<Value>(message.data)
        .ok()
        .filter(|d| !d.is_null())
        .unwrap_or_else(|| json!({}));
    json!({
        "data": data,
        "metadata": metadata_json(message.metadata),
        "time": jmespath_template::time_fields(message.time),
    })
}

/// The object key for `message`: the template's text, or why there is none.
pub fn object_key(template: Option<&str>, message: &Message<'_>) -> Result<String, String> {
    let template = template.unwrap_or(DEFAULT_S3_KEY_TEMPLATE);
    let key = jmespath_template::evaluate(template, &template_document(message))
        .map_err(|e| format!("the key template failed on this event: {e}"))?
        .ok_or("the key template gave no key (null) for this event")?;
    if key.is_empty() {
        return Err("the key template gave an empty key for this event".into());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "the key template gave a key of {} bytes; S3 allows {MAX_KEY_BYTES}",
            key.len()
        ));
    }
    Ok(key)
}

/// `key` as a URL path: each byte but the unreserved ones and `/`
/// percent-encoded, as S3's signature expects.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where the object goes.
pub fn object_url(endpoint: Option<&str>, bucket: &str, region: &str, key: &str) -> String {
    let key = encode_key(key);
    match endpoint {
        Some(endpoint) => format!("{endpoint}/{bucket}/{key}"),
        None => {
            let suffix = dns_suffix(region);
            let dns_safe = bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if dns_safe {
                format!("https://{bucket}.s3.{region}.{suffix}/{key}")
            } else {
                format!("https://s3.{region}.{suffix}/{bucket}/{key}")
            }
        }
    }
}

/// The headers of the object (signature headers come later).
pub fn object_headers(
    message: &Message<'_>,
    storage_class: &str,
) -> Result<Vec<(String, String)>, String> {
    let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(message.data));
    let mut headers: Vec<(String, String)> = vec![
        ("content-type".into(), "application/json".into()),
        ("x-amz-storage-class".into(), storage_class.into()),
        ("x-amz-sdk-checksum-algorithm".into(), "SHA256".into()),
        ("x-amz-checksum-sha256".into(), checksum),
    ];
    for (key, value) in message.metadata.iter() {
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(format!(
                "metadata key {key:?} cannot be an S3 metadata header name"
            ));
        }
        let name = format!("x-amz-meta-{}", key.to_ascii_lowercase());
        headers.retain(|(n, _)| n != &name);
        headers.push((name, header_text(value)));
    }
    Ok(headers)
}

/// A metadata value as an HTTP header value: printable ASCII as is,
/// anything else RFC 2047-encoded (`=?UTF-8?B?…?=`), the form S3 decodes.
fn header_text(value: &str) -> String {
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        value.to_string()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}

pub struct S3Sender {
    http: HttpSender,
    settings: Arc<Settings>,
}

impl S3Sender {
    pub fn new(ctx: &SenderContext, settings: &Settings) -> S3Sender {
        S3Sender {
            http: ctx.http.clone(),
            settings: Arc::new(settings.clone()),
        }
    }

    async fn send_one(&self, target: Target<'_>, message: Message<'_>) -> Sent {
        let credentials = match credentials(&target) {
            Ok(c) => c,
            Err(sent) => return *sent,
        };
        let config = target.config;
        let (Some(bucket), Some(region)) = (field(config, "bucket"), field(config, "region"))
        else {
            return unusable("the destination has no bucket or region");
        };
        let class = match storage_class(field(config, "storage_class")) {
            Ok(c) => c,
            Err(e) => return unusable(format!("storage_class: {e}")),
        };
        let rejected =
            |message: String| Sent::Failed(Failure::permanent(AttemptCode::Rejected, message));
        let key = match object_key(field(config, "key_template"), &message) {
            Ok(key) => key,
            Err(e) => return rejected(e),
        };
        let headers = match object_headers(&message, class) {
            Ok(h) => h,
            Err(e) => return rejected(e),
        };
        let request = Call {
            label: "S3",
            service: "s3",
            region,
            method: Method::PUT,
            url: object_url(self.settings.s3_endpoint(), bucket, region, &key),
            headers,
            body: message.data.to_string().into(),
            flavor: Flavor::S3,
        };
        match call(&self.http, request, &credentials).await {
            // S3 answers a PUT with an empty body: the attempt keeps where
            // the object went instead.
            Ok(response) => {
                let place = json!({"bucket": bucket, "key": key}).to_string();
                delivered(response, Some(place))
            }
            Err(failure) => Sent::Failed(failure),
        }
    }
}

impl Sender for S3Sender {
    fn send<'a>(&'a self, target: Target<'a>, message: Message<'a>) -> BoxFuture<'a, Sent> {
        Box::pin(self.send_one(target, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::test_support::Sample;

    fn with_message<T>(data: &str, event_metadata: Value, f: impl FnOnce(&Message<'_>) -> T) -> T {
        let mut sample = Sample::new("user.created", None, event_metadata);
        sample.time = "2026-11-29T10:00:00.250Z".parse().unwrap();
        f(&sample.message(data))
    }

    #[test]
    fn keys_follow_the_template_or_outposts_default() {
        with_message(r#"{"user": {"id": "u 1/é"}, "n": 7}"#, json!({}), |m| {
            assert_eq!(
                object_key(None, m).unwrap(),
                "2026-11-29T10:00:00.25Z_evt_1.json"
            );
            let t = r#"join('/', [time.year, time.month, time.day, metadata."event-id", '.json'])"#;
            assert_eq!(object_key(Some(t), m).unwrap(), "2026/11/29/evt_1/.json");
            assert_eq!(object_key(Some("data.user.id"), m).unwrap(), "u 1/é");
            assert_eq!(object_key(Some("data.n"), m).unwrap(), "7");
            let err = object_key(Some("data.missing"), m).unwrap_err();
            assert!(err.contains("no key (null)"), "{err}");
            assert!(object_key(Some("data.user.id"), m).is_ok());
        });
    }

    #[test]
    fn urls_and_headers() {
        assert_eq!(
            object_url(None, "my-bucket", "eu-west-1", "a b/é.json"),
            "https://my-bucket.s3.eu-west-1.amazonaws.com/a%20b/%C3%A9.json"
        );
        assert_eq!(
            object_url(None, "logs.example.com", "cn-north-1", "k"),
            "https://s3.cn-north-1.amazonaws.com.cn/logs.example.com/k"
        );
        assert_eq!(
            object_url(
                Some("http://127.0.0.1:5000"),
                "b",
                "us-east-1",
                "2026/x.json"
            ),
            "http://127.0.0.1:5000/b/2026/x.json"
        );
        with_message("{\"a\":1}", json!({"Source": "crm", "name": "Zoë"}), |m| {
            let h = object_headers(m, "GLACIER").unwrap();
            let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
            assert_eq!(get("content-type"), Some("application/json"));
            assert_eq!(get("x-amz-storage-class"), Some("GLACIER"));
            assert_eq!(
                get("x-amz-checksum-sha256"),
                Some("AVq9f1zFei3ZS3WQ8ErYCEJzkF7jPsXOvq5iJ2qX+GI=")
            );
            assert_eq!(get("x-amz-meta-event-id"), Some("evt_1"));
            assert_eq!(get("x-amz-meta-topic"), Some("user.created"));
            assert_eq!(get("x-amz-meta-timestamp"), Some("2026-11-29T12:00:00Z"));
            assert_eq!(get("x-amz-meta-source"), Some("crm"));
            assert_eq!(get("x-amz-meta-name"), Some("=?UTF-8?B?Wm/Dqw==?="));
        });
        with_message("{}", json!({"a b": "x"}), |m| {
            assert!(object_headers(m, "STANDARD")
                .unwrap_err()
                .contains("\"a b\""));
        });
    }
}
