//! Value parsers for the settings, wherever a setting is declared (the
//! service's in `config`, a destination type's in its folder). Each trims
//! its input, as shells and env files leave stray spaces; an error says
//! what was expected, and clap puts it after the flag and variable name
//! (`invalid value 'http' for '--api-port <API_PORT>': expected a whole
//! number`).

use std::time::Duration;

use crate::domain::signature::WebhookMode;

/// A whole number in `min..=max`.
pub fn whole<T>(
    min: T,
    max: T,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |raw: &str| {
        let value: T = raw
            .trim()
            .parse()
            .map_err(|_| "expected a whole number".to_string())?;
        if value < min || value > max {
            return Err(format!("must be between {min} and {max}"));
        }
        Ok(value)
    }
}

/// A string. A blank variable never gets here (`args::setting` drops it), so
/// a blank value is a flag given an empty string: refused rather than taken
/// as unset, since whoever typed the flag meant to set something.
pub fn text(raw: &str) -> Result<String, String> {
    match raw.trim() {
        "" => Err("must not be empty".into()),
        value => Ok(value.to_string()),
    }
}

/// An absolute http(s) URL with a host, without its trailing `/`.
pub fn http_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(raw.trim_end_matches('/').to_string())
        }
        _ => Err("expected an http or https URL".into()),
    }
}

/// `TOPICS_VALIDATE_SCHEMA`'s spellings.
pub fn boolean(raw: &str) -> Result<bool, String> {
    match raw.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

pub fn webhook_mode(raw: &str) -> Result<WebhookMode, String> {
    match raw.trim() {
        "default" => Ok(WebhookMode::Default),
        "standard" => Ok(WebhookMode::Standard),
        _ => Err("expected `default` or `standard`".into()),
    }
}

/// A URL the portal links to or loads: http(s), or a path on this server.
/// Anything else (`javascript:`, a bare word) would be a broken or unsafe
/// link in every user's browser.
pub fn link(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    let ok = value.starts_with("https://")
        || value.starts_with("http://")
        || (value.starts_with('/') && !value.starts_with("//"));
    if ok && !value.chars().any(char::is_whitespace) {
        Ok(value.to_string())
    } else {
        Err("expected an http(s) URL or a path starting with /".into())
    }
}

/// `#rgb` or `#rrggbb`.
pub fn hex_color(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    let digits = value.strip_prefix('#').unwrap_or("");
    if matches!(digits.len(), 3 | 6) && digits.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err("expected a colour as #rgb or #rrggbb".into())
    }
}

/// `light` or `dark`.
pub fn theme(raw: &str) -> Result<String, String> {
    match raw.trim() {
        t @ ("light" | "dark") => Ok(t.to_string()),
        _ => Err("expected `light` or `dark`".into()),
    }
}

/// An AWS endpoint override: an absolute http(s) URL with a host and no
/// path, query or credentials, returned without a trailing slash.
pub fn endpoint_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim().trim_end_matches('/');
    let url = url::Url::parse(raw).map_err(|e| format!("expected a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("expected an http:// or https:// URL with a host".into());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("expected a base URL, without a path or query".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    Ok(raw.to_string())
}

/// `OPERATOR_EVENTS_TOPICS`: known topics or `*`, comma separated; empty
/// items are skipped.
pub fn operator_topics(raw: &str) -> Result<crate::domain::operator_event::OperatorTopics, String> {
    let items: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    crate::domain::operator_event::OperatorTopics::parse(&items).map_err(|e| e.to_string())
}

/// Whole seconds in `min..=max`, as a duration.
pub fn seconds(
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    let whole = whole(min, max);
    move |raw: &str| whole(raw).map(Duration::from_secs)
}

/// A comma list of strings, without its empty items (`a,,b`, a trailing
/// comma).
pub fn list(raw: &str) -> Result<Vec<String>, String> {
    Ok(raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect())
}

/// `RETRY_SCHEDULE`: whole seconds, comma separated; empty items are
/// skipped.
pub fn seconds_list(raw: &str) -> Result<Vec<Duration>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map(Duration::from_secs)
                .map_err(|_| format!("{s:?} is not a whole number of seconds"))
        })
        .collect()
}

/// A string, lowercased (header names and prefixes).
pub fn lowercase(raw: &str) -> Result<String, String> {
    text(raw).map(|s| s.to_ascii_lowercase())
}
