//! What the API shows a destination delivers to, as Outpost fills it per
//! type: `target`, a short text for lists, and `target_url`, a link to the
//! thing in its provider's console where there is one. Each type computes
//! its own (`Entry::target` in the registry).

use serde_json::Value;

/// A destination as its type's `target` reads it: its configuration, its
/// credentials decrypted (Azure's namespace and Hookdeck's source are in
/// them) and its topics (RabbitMQ names them).
pub struct Configured<'a> {
    pub config: &'a Value,
    pub credentials: &'a Value,
    pub topics: &'a [String],
}

impl Configured<'_> {
    /// A config field's text, `""` when absent (as Outpost prints it).
    pub fn config(&self, key: &str) -> &str {
        self.config.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// A credentials field's text, `""` when absent.
    pub fn credential(&self, key: &str) -> &str {
        self.credentials
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// `target` and `target_url` (Outpost's `DestinationTarget`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DestinationTarget {
    pub text: Option<String>,
    pub url: Option<String>,
}

impl DestinationTarget {
    pub fn text(text: impl Into<String>) -> DestinationTarget {
        DestinationTarget {
            text: Some(text.into()),
            url: None,
        }
    }

    pub fn with_url(text: impl Into<String>, url: impl Into<String>) -> DestinationTarget {
        DestinationTarget {
            text: Some(text.into()),
            url: Some(url.into()),
        }
    }
}

/// `s`, percent-encoded as a query value.
pub fn query_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::destinations::kind::DestinationKind as K;
    use crate::destinations::registry::target;

    fn shown(
        kind: K,
        config: Value,
        credentials: Value,
        topics: &[&str],
    ) -> (String, Option<String>) {
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let t = target(
            kind,
            &Configured {
                config: &config,
                credentials: &credentials,
                topics: &topics,
            },
        );
        (t.text.unwrap_or_default(), t.url)
    }

    /// Outpost's `target` and `target_url`, type by type.
    #[test]
    fn each_type_shows_what_outpost_shows() {
        let none = json!({});
        let url = "https://hooks.example.com:8443/in?x=1";
        assert_eq!(
            shown(K::Webhook, json!({"url": url}), none.clone(), &[]),
            (url.into(), None)
        );
        let queue = "https://sqs.eu-west-1.amazonaws.com/123/orders";
        assert_eq!(
            shown(K::AwsSqs, json!({"queue_url": queue}), none.clone(), &[]),
            (
                queue.into(),
                Some(
                    "https://eu-west-1.console.aws.amazon.com/sqs/v3/home?region=eu-west-1\
                     #/queues/https%3A%2F%2Fsqs.eu-west-1.amazonaws.com%2F123%2Forders"
                        .into()
                )
            )
        );
        let local = "http://127.0.0.1:4566/000000000000/orders";
        assert_eq!(
            shown(K::AwsSqs, json!({"queue_url": local}), none.clone(), &[]),
            (local.into(), None)
        );
        assert_eq!(
            shown(
                K::AwsS3,
                json!({"bucket": "b", "region": "us-east-1"}),
                none.clone(),
                &[]
            ),
            (
                "b in us-east-1".into(),
                Some("https://s3.console.aws.amazon.com/s3/buckets/b?region=us-east-1".into())
            )
        );
        assert_eq!(
            shown(
                K::AwsKinesis,
                json!({"stream_name": "s", "region": "eu-west-1"}),
                none.clone(),
                &[]
            ),
            ("s in eu-west-1".into(), None)
        );
        assert_eq!(
            shown(
                K::Rabbitmq,
                json!({"exchange": "events"}),
                none.clone(),
                &["a.b", "c.d"]
            ),
            ("events -> a.b, c.d".into(), None)
        );
        assert_eq!(
            shown(
                K::GcpPubsub,
                json!({"project_id": "p", "topic": "t"}),
                none.clone(),
                &[]
            ),
            (
                "p/t".into(),
                Some(
                    "https://console.cloud.google.com/cloudpubsub/topic/detail/t?project=p".into()
                )
            )
        );
        let sb = json!({"connection_string":
            "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0"});
        assert_eq!(
            shown(K::AzureServicebus, json!({"name": "orders"}), sb, &[]),
            ("acme/orders".into(), None)
        );
        assert_eq!(
            shown(
                K::AzureServicebus,
                json!({"name": "orders"}),
                none.clone(),
                &[]
            ),
            ("orders".into(), None)
        );
        assert_eq!(
            shown(
                K::Kafka,
                json!({"brokers": "k1:9092, k2:9092", "topic": "t"}),
                none.clone(),
                &[]
            ),
            ("k1:9092 / t".into(), None)
        );
        assert_eq!(
            shown(K::Hookdeck, none.clone(), none.clone(), &[]),
            ("Hookdeck (no token)".into(), None)
        );
        assert_eq!(
            shown(
                K::Hookdeck,
                none.clone(),
                json!({"token": "not a token"}),
                &[]
            ),
            ("Hookdeck (invalid token)".into(), None)
        );
    }
}
