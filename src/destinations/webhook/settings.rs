//! The webhook type's deployment settings, with Outpost's names and
//! meanings: the signing scheme and its templates, the headers' names, how
//! much of a response is stored, the proxy.

use clap::ArgAction;

use super::{is_token, RESERVED_HEADERS};
use crate::config::Environment;
use crate::domain::setting;
use crate::domain::signature::{SignatureEncoding, SignatureTemplates, WebhookMode};
use crate::net::http_client::Proxy;

/// How this deployment signs webhooks, the headers it sets, how much of a
/// response it keeps and the proxy it sends through. Outpost's variables,
/// with Outpost's meanings (docs/configuration.md).
#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
pub struct Settings {
    /// How webhooks are signed: `default` (Outpost) or `standard` (Standard Webhooks)
    #[arg(env = "DESTINATIONS_WEBHOOK_MODE", default_value = "default")]
    #[arg(value_parser = setting::webhook_mode)]
    pub mode: WebhookMode,
    /// What is signed (default mode): Outpost's Go-template subset, e.g.
    /// {{.Timestamp.Unix}}.{{.Body}}; fields .Body .EventID .Topic
    /// .Timestamp.Unix .Timestamp.UnixMilli
    #[arg(env = "DESTINATIONS_WEBHOOK_SIGNATURE_CONTENT_TEMPLATE")]
    #[arg(default_value = SignatureTemplates::DEFAULT_CONTENT, value_parser = setting::text)]
    pub signature_content_template: String,
    /// The signature header's value (default mode), e.g.
    /// t={{.Timestamp.Unix}},v0={{.Signatures | join ","}}
    #[arg(env = "DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_TEMPLATE")]
    #[arg(default_value = SignatureTemplates::DEFAULT_HEADER, value_parser = setting::text)]
    pub signature_header_template: String,
    /// How each signature is written (default mode): `hex` or `base64`
    #[arg(env = "DESTINATIONS_WEBHOOK_SIGNATURE_ENCODING", default_value = "hex")]
    #[arg(value_parser = signature_encoding)]
    pub signature_encoding: SignatureEncoding,
    /// The signature's algorithm (default mode): `hmac-sha256` only
    #[arg(
        env = "DESTINATIONS_WEBHOOK_SIGNATURE_ALGORITHM",
        default_value = "hmac-sha256"
    )]
    #[arg(value_parser = signature_algorithm)]
    pub signature_algorithm: String,
    /// Prefix of identity and metadata headers (lowercased); unset:
    /// x-outpost- (default mode) or webhook- (standard mode); white space
    /// (e.g. " "): no prefix
    #[arg(env = "DESTINATIONS_WEBHOOK_HEADER_PREFIX", value_parser = setting::lowercase)]
    pub header_prefix_setting: Option<String>,
    /// The prefix in use, resolved by [`Settings::check`].
    #[arg(skip)]
    pub header_prefix: String,
    /// The event id header's full name (default mode); unset:
    /// <prefix>event-id; empty: not sent
    #[arg(env = "DESTINATIONS_WEBHOOK_EVENT_ID_HEADER_NAME", value_parser = header_name)]
    pub event_id_header_name: Option<String>,
    /// The signature header's full name (default mode); unset:
    /// <prefix>signature; empty: not sent
    #[arg(env = "DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_NAME", value_parser = header_name)]
    pub signature_header_name: Option<String>,
    /// The timestamp header's full name (default mode); unset:
    /// <prefix>timestamp; empty: not sent
    #[arg(env = "DESTINATIONS_WEBHOOK_TIMESTAMP_HEADER_NAME", value_parser = header_name)]
    pub timestamp_header_name: Option<String>,
    /// The topic header's full name (default mode); unset: <prefix>topic;
    /// empty: not sent
    #[arg(env = "DESTINATIONS_WEBHOOK_TOPIC_HEADER_NAME", value_parser = header_name)]
    pub topic_header_name: Option<String>,
    /// Deprecated (Outpost's): true = as DESTINATIONS_WEBHOOK_EVENT_ID_HEADER_NAME=""
    #[arg(env = "DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_EVENT_ID_HEADER")]
    #[arg(default_value = "false", action = ArgAction::Set, value_parser = setting::boolean)]
    pub disable_default_event_id_header: bool,
    /// Deprecated (Outpost's): true = as DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_NAME=""
    #[arg(env = "DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_SIGNATURE_HEADER")]
    #[arg(default_value = "false", action = ArgAction::Set, value_parser = setting::boolean)]
    pub disable_default_signature_header: bool,
    /// Deprecated (Outpost's): true = as DESTINATIONS_WEBHOOK_TIMESTAMP_HEADER_NAME=""
    #[arg(env = "DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_TIMESTAMP_HEADER")]
    #[arg(default_value = "false", action = ArgAction::Set, value_parser = setting::boolean)]
    pub disable_default_timestamp_header: bool,
    /// Deprecated (Outpost's): true = as DESTINATIONS_WEBHOOK_TOPIC_HEADER_NAME=""
    #[arg(env = "DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_TOPIC_HEADER")]
    #[arg(default_value = "false", action = ArgAction::Set, value_parser = setting::boolean)]
    pub disable_default_topic_header: bool,
    /// Most response-body bytes stored on an attempt; a longer body is
    /// stored as a note saying so; 0: up to outbound's ceiling (16 MiB)
    #[arg(
        env = "DESTINATIONS_WEBHOOK_MAX_RESPONSE_BODY_BYTES",
        default_value = "131072"
    )]
    #[arg(value_parser = setting::whole(0, MAX_RESPONSE_BODY_CEILING))]
    pub max_response_body_bytes: usize,
    /// HTTP proxy webhooks are sent through (http://[user:pass@]host:port);
    /// outbound checks each destination's address itself first
    #[arg(env = "DESTINATIONS_WEBHOOK_PROXY_URL", hide_env_values = true)]
    #[arg(value_parser = proxy_url)]
    pub proxy_url: Option<Proxy>,
    /// The two templates, parsed by [`Settings::check`].
    #[arg(skip)]
    pub templates: SignatureTemplates,
    /// The system headers' names, resolved by [`Settings::check`].
    #[arg(skip)]
    pub headers: SystemHeaders,
}

/// The largest response body outbound stores: the attempt log is in
/// PostgreSQL, and a worker holds the body in memory while it records it.
pub const MAX_RESPONSE_BODY_CEILING: usize = 16 * 1024 * 1024;

/// The names of the headers outbound sets in default mode; `None`: not
/// sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemHeaders {
    pub event_id: Option<String>,
    pub signature: Option<String>,
    pub timestamp: Option<String>,
    pub topic: Option<String>,
}

impl SystemHeaders {
    /// The names for `prefix`, with nothing pinned or disabled.
    pub fn prefixed(prefix: &str) -> SystemHeaders {
        SystemHeaders {
            event_id: Some(format!("{prefix}event-id")),
            signature: Some(format!("{prefix}signature")),
            timestamp: Some(format!("{prefix}timestamp")),
            topic: Some(format!("{prefix}topic")),
        }
    }

    /// The header that carries metadata key `key` (a system key's own
    /// header; `None` when that header is disabled), else `<prefix><key>`.
    pub fn for_metadata(&self, prefix: &str, key: &str) -> Option<String> {
        match key {
            "event-id" => self.event_id.clone(),
            "timestamp" => self.timestamp.clone(),
            "topic" => self.topic.clone(),
            _ => Some(format!("{prefix}{key}")),
        }
    }
}

impl Default for SystemHeaders {
    fn default() -> Self {
        SystemHeaders::prefixed("x-outpost-")
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: WebhookMode::Default,
            signature_content_template: SignatureTemplates::DEFAULT_CONTENT.into(),
            signature_header_template: SignatureTemplates::DEFAULT_HEADER.into(),
            signature_encoding: SignatureEncoding::Hex,
            signature_algorithm: "hmac-sha256".into(),
            header_prefix_setting: None,
            header_prefix: "x-outpost-".into(),
            event_id_header_name: None,
            signature_header_name: None,
            timestamp_header_name: None,
            topic_header_name: None,
            disable_default_event_id_header: false,
            disable_default_signature_header: false,
            disable_default_timestamp_header: false,
            disable_default_topic_header: false,
            max_response_body_bytes: 131_072,
            proxy_url: None,
            templates: SignatureTemplates::default(),
            headers: SystemHeaders::default(),
        }
    }
}

/// The four header-name variables, with their deprecated switches.
const HEADER_NAME_VARS: [(&str, &str); 4] = [
    (
        "DESTINATIONS_WEBHOOK_EVENT_ID_HEADER_NAME",
        "DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_EVENT_ID_HEADER",
    ),
    (
        "DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_NAME",
        "DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_SIGNATURE_HEADER",
    ),
    (
        "DESTINATIONS_WEBHOOK_TIMESTAMP_HEADER_NAME",
        "DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_TIMESTAMP_HEADER",
    ),
    (
        "DESTINATIONS_WEBHOOK_TOPIC_HEADER_NAME",
        "DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_TOPIC_HEADER",
    ),
];

impl Settings {
    fn names_mut(&mut self) -> [&mut Option<String>; 4] {
        [
            &mut self.event_id_header_name,
            &mut self.signature_header_name,
            &mut self.timestamp_header_name,
            &mut self.topic_header_name,
        ]
    }

    fn disabled(&self) -> [bool; 4] {
        [
            self.disable_default_event_id_header,
            self.disable_default_signature_header,
            self.disable_default_timestamp_header,
            self.disable_default_topic_header,
        ]
    }

    /// Where the empty string means something: a header-name variable set
    /// to it disables its header, and a prefix of white space is no prefix
    /// (both as in Outpost). clap counts a blank variable as unset, so they
    /// are read from `env` here.
    pub fn blank_header_names(&mut self, env: &Environment) {
        for ((var, _), name) in HEADER_NAME_VARS.iter().zip(self.names_mut()) {
            if name.is_none() && env.is_blank(var) {
                *name = Some(String::new());
            }
        }
        if env
            .get("DESTINATIONS_WEBHOOK_HEADER_PREFIX")
            .is_some_and(|v| !v.is_empty() && v.trim().is_empty())
        {
            self.header_prefix_setting = Some(String::new());
        }
    }

    /// Parses the signature templates and resolves the header names; the
    /// error names the variable.
    pub fn check(&mut self) -> Result<(), String> {
        self.templates = SignatureTemplates::parse(
            &self.signature_content_template,
            &self.signature_header_template,
        )
        .map_err(|e| {
            let var = match e.which {
                "content" => "DESTINATIONS_WEBHOOK_SIGNATURE_CONTENT_TEMPLATE",
                _ => "DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_TEMPLATE",
            };
            format!("{var}: {}", e.error)
        })?;
        let prefix = match (&self.header_prefix_setting, self.mode) {
            (Some(prefix), _) => prefix.clone(),
            (None, WebhookMode::Default) => "x-outpost-".to_owned(),
            (None, WebhookMode::Standard) => "webhook-".to_owned(),
        };
        self.header_prefix = prefix.clone();
        let defaults = SystemHeaders::prefixed(&prefix);
        let disabled = self.disabled();
        let [event_id, signature, timestamp, topic] = self.names_mut().map(|n| n.clone());
        let resolve = |name: Option<String>, default: Option<String>, off: bool| match name {
            Some(name) if name.is_empty() => None,
            Some(name) => Some(name),
            None if off => None,
            None => default,
        };
        self.headers = SystemHeaders {
            event_id: resolve(event_id, defaults.event_id, disabled[0]),
            signature: resolve(signature, defaults.signature, disabled[1]),
            timestamp: resolve(timestamp, defaults.timestamp, disabled[2]),
            topic: resolve(topic, defaults.topic, disabled[3]),
        };
        if self.mode == WebhookMode::Standard {
            // The names apply to default mode only (as in Outpost); standard
            // mode's headers are its specification's (`deprecation_warnings`
            // says so when they are set).
            return Ok(());
        }
        let names = [
            (HEADER_NAME_VARS[0].0, &self.headers.event_id),
            (HEADER_NAME_VARS[1].0, &self.headers.signature),
            (HEADER_NAME_VARS[2].0, &self.headers.timestamp),
            (HEADER_NAME_VARS[3].0, &self.headers.topic),
        ];
        for (i, (var, name)) in names.iter().enumerate() {
            let Some(name) = name else { continue };
            if RESERVED_HEADERS.contains(&name.as_str()) {
                return Err(format!(
                    "{var}: {name} is a header outbound sets itself or that describes the connection"
                ));
            }
            if let Some((other, _)) = names[..i].iter().find(|(_, n)| n.as_ref() == Some(name)) {
                return Err(format!(
                    "{other} and {var} both name the header {name}: each header is sent once"
                ));
            }
        }
        Ok(())
    }

    /// Warnings for the start-up log: the deprecated switches in use, and
    /// default-mode settings set in standard mode, where they do nothing.
    pub fn deprecation_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for ((name_var, switch), on) in HEADER_NAME_VARS.iter().zip(self.disabled()) {
            if on {
                warnings.push(format!(
                    "{switch} is deprecated (as in Outpost): set {name_var} to the empty string \
                     to leave the header out"
                ));
            }
        }
        if self.mode == WebhookMode::Standard {
            let default = Settings::default();
            let default_mode_only = [
                (
                    "DESTINATIONS_WEBHOOK_SIGNATURE_CONTENT_TEMPLATE",
                    self.signature_content_template != default.signature_content_template,
                ),
                (
                    "DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_TEMPLATE",
                    self.signature_header_template != default.signature_header_template,
                ),
                (
                    "DESTINATIONS_WEBHOOK_SIGNATURE_ENCODING",
                    self.signature_encoding != default.signature_encoding,
                ),
                (
                    "DESTINATIONS_WEBHOOK_*_HEADER_NAME",
                    self.headers != SystemHeaders::prefixed(&self.header_prefix),
                ),
            ];
            for (var, set) in default_mode_only {
                if set {
                    warnings.push(format!(
                        "{var} is set but has no effect: DESTINATIONS_WEBHOOK_MODE is standard, \
                         which signs per the Standard Webhooks specification"
                    ));
                }
            }
        }
        warnings
    }
}

/// `DESTINATIONS_WEBHOOK_SIGNATURE_ENCODING`.
fn signature_encoding(raw: &str) -> Result<SignatureEncoding, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "hex" => Ok(SignatureEncoding::Hex),
        "base64" => Ok(SignatureEncoding::Base64),
        _ => Err("expected hex or base64".into()),
    }
}

/// `DESTINATIONS_WEBHOOK_SIGNATURE_ALGORITHM`: Outpost also offers
/// hmac-sha1 and hmac-md5, both broken as hashes and rare as signatures;
/// outbound refuses them by name rather than sign differently.
fn signature_algorithm(raw: &str) -> Result<String, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "hmac-sha256" => Ok("hmac-sha256".into()),
        other @ ("hmac-sha1" | "hmac-md5") => Err(format!(
            "{other} is not supported by outbound (Outpost has it); hmac-sha256 is"
        )),
        _ => Err("expected hmac-sha256".into()),
    }
}

/// A header-name setting: an HTTP token, lowercased, or the empty string
/// (a flag given `""`), which leaves the header out.
fn header_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Ok(String::new());
    }
    if !is_token(name) {
        return Err("expected a header name (letters, digits and !#$%&'*+-.^_`|~)".into());
    }
    Ok(name.to_ascii_lowercase())
}

/// `DESTINATIONS_WEBHOOK_PROXY_URL`.
fn proxy_url(raw: &str) -> Result<Proxy, String> {
    Proxy::parse(raw.trim())
}
