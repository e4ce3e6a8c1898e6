//! A RabbitMQ destination's settings, read as Outpost reads them.
//!
//! `config.server_url` is `host:port`, as Outpost documents it. Outpost
//! builds `amqp[s]://user:pass@<server_url>` and hands it to its AMQP
//! client, so the same text also means, there: no port → 5672 (5671 with
//! TLS), and a path → the virtual host (`rabbit:5672/orders`, percent-encoded
//! like a URL path; none → `/`). Both are honoured here so that a setting
//! that delivered with Outpost delivers with outbound.
//!
//! What Outpost would only have failed on at every delivery is refused when
//! the destination is created: a scheme (`amqp://…` — TLS is the `tls`
//! setting), credentials in the address, a query, a bad port, an empty
//! virtual host, names longer than AMQP's 255-byte short strings.
//!
//! `config.tls`: "on"/"true" → TLS; "off"/"false", or no value → plain
//! AMQP. Outpost's form shows the box ticked, but a destination created
//! through its API without `tls` is stored as "false": the default here is
//! that of the API.

use std::net::Ipv6Addr;

use serde_json::Value;

use crate::destinations::fields::{parse_checkbox, FieldError};
use crate::domain::ssrf::reachable_url;
use crate::domain::ssrf::NetworkPolicy;

/// The AMQP port without TLS, and with it (IANA's `amqp` and `amqps`).
pub const AMQP_PORT: u16 = 5672;
pub const AMQPS_PORT: u16 = 5671;

/// The longest AMQP short string: exchange names, routing keys, header
/// names, the virtual host.
pub const SHORT_STR_MAX: usize = 255;

/// Where a RabbitMQ destination publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpServer {
    /// A host name (lowercased) or an IP address (an IPv6 one without
    /// brackets).
    pub host: String,
    pub port: u16,
    pub vhost: String,
    pub tls: bool,
    /// `config.exchange`; empty is the default exchange, which routes by
    /// queue name.
    pub exchange: String,
}

impl AmqpServer {
    /// Reads `config`. Errors name the field, as a 422 does.
    pub fn from_config(config: &Value) -> Result<AmqpServer, FieldError> {
        let text = |key: &str| config.get(key).and_then(Value::as_str).unwrap_or("");
        let tls = match config.get("tls") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.is_empty() => false,
            Some(Value::String(s)) => parse_checkbox(s)
                .ok_or_else(|| field_error("config.tls", "must be on, off, true or false"))?,
            None | Some(Value::Null) => false,
            Some(_) => return Err(field_error("config.tls", "must be on, off, true or false")),
        };
        let (host, port, vhost) = parse_server_url(text("server_url"), tls)
            .map_err(|message| field_error("config.server_url", &message))?;
        let exchange = text("exchange").to_string();
        if exchange.len() > SHORT_STR_MAX {
            return Err(field_error(
                "config.exchange",
                "is longer than 255 bytes, the most an AMQP exchange name can be",
            ));
        }
        Ok(AmqpServer {
            host,
            port,
            vhost,
            tls,
            exchange,
        })
    }

    /// `host:port` as it would be written in a URL (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn field_error(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.to_string(),
    }
}

/// `host[:port][/vhost]` → (host, port, vhost).
fn parse_server_url(s: &str, tls: bool) -> Result<(String, u16, String), String> {
    if s.is_empty() {
        return Err("is required".into());
    }
    if s.contains("://") {
        return Err("must be host:port without a scheme (TLS is the tls setting)".into());
    }
    if s.contains(['?', '#']) {
        return Err("must be host:port (optionally /vhost), without a query or fragment".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let (authority, path) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    if authority.contains('@') {
        return Err(
            "must not contain credentials: they go in the username and password credentials".into(),
        );
    }
    let (host, port) = split_host_port(authority)?;
    let port = match port {
        None => {
            if tls {
                AMQPS_PORT
            } else {
                AMQP_PORT
            }
        }
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("port {p:?} is not a number from 1 to 65535")),
        },
    };
    let vhost = match path {
        None => "/".to_string(),
        Some("") => {
            return Err(
                "ends with an empty virtual host: leave out the slash for the default \
                        virtual host (/), or name one, as in rabbit.example.com:5672/orders"
                    .into(),
            )
        }
        Some(p) => {
            let vhost = percent_encoding::percent_decode_str(p)
                .decode_utf8()
                .map_err(|_| "names a virtual host that is not valid UTF-8".to_string())?
                .into_owned();
            if vhost.len() > SHORT_STR_MAX {
                return Err("names a virtual host longer than 255 bytes".into());
            }
            vhost
        }
    };
    Ok((host, port, vhost))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(String, Option<&str>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| "has a [ without its ]".to_string())?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| format!("[{inside}] is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| "must be [IPv6 address]:port".to_string())?,
            ),
        };
        (ip.to_string(), port)
    } else {
        match authority.split_once(':') {
            Some((_, p)) if p.contains(':') => {
                return Err("an IPv6 address must be in brackets, as in [2001:db8::1]:5672".into());
            }
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    let valid = host.contains(':')
        || host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid || host.starts_with(['-', '.']) {
        return Err(format!("host {host:?} is not a host name or an IP address"));
    }
    Ok((host, port))
}

/// Who to connect to, as whom.
#[derive(Clone)]
pub struct Login {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub vhost: String,
    pub username: String,
    pub password: String,
}

impl Login {
    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Debug for Login {
    // Never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("server", &self.server())
            .field("tls", &self.tls)
            .field("vhost", &self.vhost)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Every problem with a RabbitMQ destination's settings, after the schema
/// passed: the address, the exchange, a literal address the network policy
/// refuses (names are checked after DNS resolution, at send time), and
/// credentials the PLAIN login cannot carry.
pub fn check(config: &Value, credentials: &Value, policy: &NetworkPolicy) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match AmqpServer::from_config(config) {
        Ok(server) => {
            let url = format!("http://{}/", server.authority());
            if let Err(message) = reachable_url(&url, policy) {
                errors.push(field_error("config.server_url", &message));
            }
        }
        Err(e) => errors.push(e),
    }
    for key in ["username", "password"] {
        if credentials
            .get(key)
            .and_then(Value::as_str)
            .is_some_and(|v| v.contains('\0'))
        {
            errors.push(field_error(
                &format!("credentials.{key}"),
                "must not contain a NUL character (the AMQP PLAIN login separates fields with it)",
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server(config: Value) -> Result<AmqpServer, String> {
        AmqpServer::from_config(&config).map_err(|e| format!("{}: {}", e.field, e.message))
    }

    #[test]
    fn reads_outposts_host_port_and_what_its_url_also_meant() {
        let s =
            server(json!({"server_url": "Rabbit.Example.com:5673", "exchange": "events"})).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.vhost.as_str(), s.tls),
            ("rabbit.example.com", 5673, "/", false)
        );
        assert_eq!(s.exchange, "events");
        // No port: AMQP's, or AMQPS's with TLS.
        assert_eq!(server(json!({"server_url": "mq"})).unwrap().port, 5672);
        for tls in [json!("on"), json!("true"), json!(true)] {
            let s = server(json!({"server_url": "mq", "tls": tls})).unwrap();
            assert!(s.tls);
            assert_eq!(s.port, 5671);
        }
        for tls in [json!("off"), json!("false"), json!(false), json!("")] {
            assert!(!server(json!({"server_url": "mq", "tls": tls})).unwrap().tls);
        }
        // A path names the virtual host, percent-decoded.
        let s = server(json!({"server_url": "mq:5672/orders%2Feu"})).unwrap();
        assert_eq!(s.vhost, "orders/eu");
        let s = server(json!({"server_url": "[2001:db8::1]:5672"})).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("2001:db8::1", 5672));
        assert_eq!(s.authority(), "[2001:db8::1]:5672");
        assert_eq!(
            server(json!({"server_url": "10.1.2.3"})).unwrap().host,
            "10.1.2.3"
        );
        // No exchange: the default exchange.
        assert_eq!(server(json!({"server_url": "mq"})).unwrap().exchange, "");
    }

    #[test]
    fn refuses_what_outpost_would_fail_at_every_delivery() {
        for (url, says) in [
            ("", "is required"),
            ("amqp://mq:5672", "without a scheme"),
            ("amqps://mq", "without a scheme"),
            ("user:pw@mq:5672", "must not contain credentials"),
            ("mq:5672?heartbeat=5", "without a query"),
            ("mq:0", "from 1 to 65535"),
            ("mq:70000", "from 1 to 65535"),
            ("mq:amqp", "from 1 to 65535"),
            ("mq:", "from 1 to 65535"),
            ("mq:5672/", "empty virtual host"),
            ("2001:db8::1:5672", "in brackets"),
            ("[2001:db8::1", "without its ]"),
            ("[nothost]:5672", "not an IPv6 address"),
            ("[::1]5672", "[IPv6 address]:port"),
            (":5672", "has no host"),
            ("mq!:5672", "not a host name"),
            ("-mq:5672", "not a host name"),
            ("mq:5672/%FF", "not valid UTF-8"),
        ] {
            let err = server(json!({ "server_url": url })).unwrap_err();
            assert!(err.starts_with("config.server_url: "), "{url}: {err}");
            assert!(err.contains(says), "{url}: {err}");
        }
        let long = "x".repeat(256);
        let err = server(json!({"server_url": "mq", "exchange": long})).unwrap_err();
        assert!(err.starts_with("config.exchange: "), "{err}");
        let err = server(json!({"server_url": format!("mq/{long}")})).unwrap_err();
        assert!(err.contains("longer than 255"), "{err}");
        let err = server(json!({"server_url": "mq", "tls": "yes"})).unwrap_err();
        assert!(err.starts_with("config.tls: "), "{err}");
    }

    #[test]
    fn check_adds_blocked_literal_addresses_and_unusable_credentials() {
        let strict = NetworkPolicy::default();
        let creds = json!({"username": "u", "password": "p"});
        assert!(check(
            &json!({"server_url": "rabbit.example.com:5672"}),
            &creds,
            &strict
        )
        .is_empty());
        for url in [
            "127.0.0.1:5672",
            "localhost:5672",
            "[::1]:5672",
            "169.254.169.254",
            "10.0.0.7:5672/v",
        ] {
            let errors = check(&json!({ "server_url": url }), &creds, &strict);
            assert_eq!(errors.len(), 1, "{url}: {errors:?}");
            assert_eq!(errors[0].field, "config.server_url");
            assert!(
                errors[0].message.contains("may not reach"),
                "{url}: {errors:?}"
            );
        }
        let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
        assert!(check(&json!({"server_url": "127.0.0.1:5672"}), &creds, &loopback).is_empty());
        let errors = check(
            &json!({"server_url": "amqp://mq"}),
            &json!({"username": "a\u{0}b", "password": "p\u{0}"}),
            &strict,
        );
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "config.server_url",
                "credentials.username",
                "credentials.password"
            ]
        );
    }
}
