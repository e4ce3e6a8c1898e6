//! An Azure Service Bus connection string and the Shared Access Signature
//! that authorizes a request with it.
//!
//! A connection string is `Key=Value` pairs separated by `;`, keys
//! case-insensitive, unknown keys ignored:
//! `Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=<rule>;SharedAccessKey=<key>`,
//! optionally `EntityPath=<queue or topic>` (a key scoped to one entity),
//! or `SharedAccessSignature=<a ready-made token>` in place of the key.
//! `UseDevelopmentEmulator=true` is the Azure SDKs' switch for a local
//! emulator: outbound then speaks plain http to the endpoint's host and port
//! as given (a real namespace is always https).
//!
//! The SAS token (Microsoft's "Generate a Shared Access Signature token"):
//! `SharedAccessSignature sr=<r>&sig=<s>&se=<expiry>&skn=<rule>`, where `r`
//! is the URL-encoded resource URI, lowercased as Azure's own SDKs send it,
//! `expiry` unix seconds, and `s` the URL-encoded base64 HMAC-SHA256 of
//! `r + "\n" + expiry`, keyed with the key text's bytes (not base64-decoded).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// A parsed connection string. Its `Debug` shows no key.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    /// `host` or `host:port`, from `Endpoint`.
    pub host: String,
    pub entity_path: Option<String>,
    /// `UseDevelopmentEmulator=true`: plain http.
    pub emulator: bool,
    auth: Auth,
}

#[derive(Clone, PartialEq, Eq)]
enum Auth {
    Key {
        name: String,
        key: String,
    },
    /// A token signed elsewhere, sent as it is.
    Token(String),
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("host", &self.host)
            .field("entity_path", &self.entity_path)
            .field("emulator", &self.emulator)
            .finish_non_exhaustive()
    }
}

impl ConnectionString {
    /// Parses a connection string; the error says which part is missing or
    /// wrong, never what a key is.
    pub fn parse(text: &str) -> Result<ConnectionString, String> {
        let (mut endpoint, mut key_name, mut key, mut token) = (None, None, None, None);
        let (mut entity_path, mut emulator) = (None, false);
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, value)) = part.split_once('=') else {
                return Err("must be Key=Value pairs separated by ';'".into());
            };
            let value = value.trim();
            let value = (!value.is_empty()).then(|| value.to_string());
            match name.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = value,
                "sharedaccesskeyname" => key_name = value,
                "sharedaccesskey" => key = value,
                "sharedaccesssignature" => token = value,
                "entitypath" => entity_path = value,
                "usedevelopmentemulator" => {
                    emulator = value.is_some_and(|v| v.eq_ignore_ascii_case("true"));
                }
                _ => {}
            }
        }
        let Some(endpoint) = endpoint else {
            return Err(
                "has no Endpoint (Endpoint=sb://<namespace>.servicebus.windows.net/)".into(),
            );
        };
        let host = endpoint_host(&endpoint)?;
        let auth = match (token, key_name, key) {
            (Some(token), _, _) => Auth::Token(token),
            (None, Some(name), Some(key)) => Auth::Key { name, key },
            (None, name, key) => {
                let missing: Vec<&str> = [
                    ("SharedAccessKeyName", name.is_none()),
                    ("SharedAccessKey", key.is_none()),
                ]
                .into_iter()
                .filter_map(|(field, absent)| absent.then_some(field))
                .collect();
                return Err(format!("has no {}", missing.join(" and ")));
            }
        };
        Ok(ConnectionString {
            host,
            entity_path,
            emulator,
            auth,
        })
    }

    /// `https://<host>`, or `http://<host>` for the emulator.
    pub fn base_url(&self) -> String {
        let scheme = if self.emulator { "http" } else { "https" };
        format!("{scheme}://{}", self.host)
    }

    /// The `Authorization` header value for requests to `resource_uri`
    /// (e.g. `https://ns.servicebus.windows.net/orders`), valid until
    /// `expiry` (unix seconds).
    pub fn authorization(&self, resource_uri: &str, expiry: i64) -> String {
        match &self.auth {
            Auth::Token(token) => token.clone(),
            Auth::Key { name, key } => {
                let sr = url_encode(resource_uri).to_lowercase();
                let signature = STANDARD.encode(hmac_sha256(
                    key.as_bytes(),
                    format!("{sr}\n{expiry}").as_bytes(),
                ));
                format!(
                    "SharedAccessSignature sr={sr}&sig={}&se={expiry}&skn={}",
                    url_encode(&signature),
                    url_encode(name)
                )
            }
        }
    }
}

/// `host[:port]` of an `sb://host[:port][/]` endpoint.
fn endpoint_host(endpoint: &str) -> Result<String, String> {
    let bad =
        || format!("Endpoint must be sb://<namespace>.servicebus.windows.net/, not {endpoint:?}");
    let url = url::Url::parse(endpoint).map_err(|_| bad())?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(bad)?;
    if url.scheme() != "sb" || !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err(bad());
    }
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// `application/x-www-form-urlencoded` escaping, as Azure's SDKs use for the
/// token's parts (space as `+`, everything but `*-._` and alphanumerics
/// escaped).
fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&key, message).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=abc+/=";

    #[test]
    fn connection_strings_are_parsed() {
        let c = ConnectionString::parse(REAL).unwrap();
        assert_eq!(c.host, "acme.servicebus.windows.net");
        assert_eq!(c.base_url(), "https://acme.servicebus.windows.net");
        assert_eq!(c.entity_path, None);
        assert!(!c.emulator);
        assert!(!format!("{c:?}").contains("abc"), "Debug hides the key");
        let c = ConnectionString::parse(
            " endpoint = sb://127.0.0.1:5300 ;sharedaccesskeyname=k; SHAREDACCESSKEY=v;EntityPath=orders;UseDevelopmentEmulator=true;",
        )
        .unwrap();
        assert_eq!(c.host, "127.0.0.1:5300");
        assert_eq!(c.base_url(), "http://127.0.0.1:5300");
        assert_eq!(c.entity_path.as_deref(), Some("orders"));
        let c = ConnectionString::parse(
            "Endpoint=sb://a.servicebus.windows.net/;SharedAccessSignature=SharedAccessSignature sr=x&sig=y&se=1&skn=z",
        )
        .unwrap();
        assert_eq!(
            c.authorization("https://a.servicebus.windows.net/q", 5),
            "SharedAccessSignature sr=x&sig=y&se=1&skn=z"
        );
    }

    #[test]
    fn missing_parts_are_named() {
        let err = |text: &str| ConnectionString::parse(text).unwrap_err();
        assert!(err("SharedAccessKeyName=a;SharedAccessKey=b").contains("has no Endpoint"));
        assert_eq!(
            err("Endpoint=sb://a.servicebus.windows.net/;SharedAccessKeyName=send"),
            "has no SharedAccessKey"
        );
        assert_eq!(
            err("Endpoint=sb://a.servicebus.windows.net/;SharedAccessKey=k"),
            "has no SharedAccessKeyName"
        );
        assert_eq!(
            err("Endpoint=sb://a.servicebus.windows.net/"),
            "has no SharedAccessKeyName and SharedAccessKey"
        );
        for endpoint in [
            "https://a.servicebus.windows.net/",
            "sb://a/q",
            "sb://",
            "a.servicebus.windows.net",
        ] {
            let e = err(&format!(
                "Endpoint={endpoint};SharedAccessKeyName=a;SharedAccessKey=b"
            ));
            assert!(e.starts_with("Endpoint must be sb://"), "{endpoint}: {e}");
        }
        assert!(err("garbage").contains("Key=Value"));
    }

    #[test]
    fn the_sas_token_is_signed_over_the_encoded_resource_and_expiry() {
        let c = ConnectionString::parse(REAL).unwrap();
        let token = c.authorization("https://acme.servicebus.windows.net/Orders", 1_700_000_000);
        let sr = "https%3a%2f%2facme.servicebus.windows.net%2forders";
        let sig = STANDARD.encode(hmac_sha256(
            b"abc+/=",
            format!("{sr}\n1700000000").as_bytes(),
        ));
        assert_eq!(
            token,
            format!(
                "SharedAccessSignature sr={sr}&sig={}&se=1700000000&skn=send",
                url_encode(&sig)
            )
        );
        assert!(!token.contains("abc+/="), "the key never travels");
    }
}
