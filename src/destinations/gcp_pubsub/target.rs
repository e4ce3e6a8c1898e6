//! Where a Pub/Sub destination publishes: `config.project_id`,
//! `config.topic` and the optional `config.endpoint`, checked and turned
//! into the REST publish URL
//! `<base>/v1/projects/<project>/topics/<topic>:publish`.
//!
//! The base is `https://pubsub.googleapis.com` unless `config.endpoint`
//! names another. Outpost passes the endpoint to Google's client as an
//! emulator address (`localhost:8085`) over plaintext, so an endpoint
//! without a scheme is read the same way, as `http://<endpoint>` (the
//! Pub/Sub emulator serves the REST API on its one port); one with
//! `https://` (a regional or private endpoint) is used as given.

use serde_json::Value;

use crate::destinations::fields::FieldError;

/// Google's Pub/Sub REST endpoint.
pub const GOOGLE_ENDPOINT: &str = "https://pubsub.googleapis.com";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubsubTarget {
    pub project_id: String,
    pub topic: String,
    /// `config.endpoint` as a base URL (scheme added, no trailing `/`);
    /// None for Google's own endpoint.
    pub endpoint: Option<String>,
}

impl PubsubTarget {
    /// Reads the config; every problem names its field.
    pub fn parse(config: &Value) -> Result<PubsubTarget, Vec<FieldError>> {
        let text = |key: &str| config.get(key).and_then(Value::as_str).unwrap_or_default();
        let mut errors = Vec::new();
        let (project_id, topic) = (text("project_id"), text("topic"));
        // Google's rules are stricter (lengths, a leading letter); these
        // keep the resource path well-formed and leave the rest to the
        // service, which emulators apply loosely.
        let project_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':');
        if project_id.is_empty() || !project_id.chars().all(project_char) {
            errors.push(field_error(
                "config.project_id",
                "must be a Google Cloud project ID (letters, digits, '-'; '.' and ':' in domain-scoped IDs)",
            ));
        }
        let topic_char = |c: char| c.is_ascii_alphanumeric() || "-_.~+%".contains(c);
        if !topic.starts_with(|c: char| c.is_ascii_alphabetic())
            || !topic.chars().all(topic_char)
            || topic.to_ascii_lowercase().starts_with("goog")
        {
            errors.push(field_error(
                "config.topic",
                "must be a Pub/Sub topic ID: a letter, then letters, digits and - _ . ~ + %, not starting with \"goog\"",
            ));
        }
        let endpoint = match text("endpoint").trim() {
            "" => None,
            raw => match endpoint_base(raw) {
                Ok(base) => Some(base),
                Err(message) => {
                    errors.push(field_error("config.endpoint", message));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(PubsubTarget {
            project_id: project_id.to_string(),
            topic: topic.to_string(),
            endpoint,
        })
    }

    /// The REST publish URL.
    pub fn publish_url(&self) -> String {
        let base = self.endpoint.as_deref().unwrap_or(GOOGLE_ENDPOINT);
        format!(
            "{base}/v1/projects/{}/topics/{}:publish",
            self.project_id, self.topic
        )
    }
}

/// `localhost:8085` → `http://localhost:8085`; `https://x/` → `https://x`.
pub fn endpoint_base(raw: &str) -> Result<String, &'static str> {
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let message = "must be host:port (an emulator, over http) or an http(s) URL";
    let url = url::Url::parse(&with_scheme).map_err(|_| message)?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(message);
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn field_error(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(config: Value) -> String {
        PubsubTarget::parse(&config).unwrap().publish_url()
    }

    fn fields(config: Value) -> Vec<String> {
        PubsubTarget::parse(&config)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn the_publish_url_uses_google_or_the_endpoint() {
        assert_eq!(
            url(json!({"project_id": "acme-prod", "topic": "orders"})),
            "https://pubsub.googleapis.com/v1/projects/acme-prod/topics/orders:publish"
        );
        assert_eq!(
            url(json!({"project_id": "p", "topic": "t", "endpoint": "localhost:8085"})),
            "http://localhost:8085/v1/projects/p/topics/t:publish"
        );
        assert_eq!(
            url(
                json!({"project_id": "example.com:p", "topic": "t.v1~x", "endpoint": "https://eu-pubsub.example.com/"})
            ),
            "https://eu-pubsub.example.com/v1/projects/example.com:p/topics/t.v1~x:publish"
        );
        let t =
            PubsubTarget::parse(&json!({"project_id": "p", "topic": "t", "endpoint": ""})).unwrap();
        assert_eq!(t.endpoint, None);
    }

    #[test]
    fn bad_names_and_endpoints_are_refused() {
        assert_eq!(
            fields(json!({"project_id": "a/b", "topic": "t"})),
            ["config.project_id"]
        );
        for topic in ["1abc", "a/b", "goog-x", "a b", ""] {
            assert_eq!(
                fields(json!({"project_id": "p", "topic": topic})),
                ["config.topic"],
                "{topic}"
            );
        }
        for endpoint in ["ftp://x", "http://", "http://u:p@x", "x:8085?y=1"] {
            assert_eq!(
                fields(json!({"project_id": "p", "topic": "t", "endpoint": endpoint})),
                ["config.endpoint"],
                "{endpoint}"
            );
        }
    }
}
