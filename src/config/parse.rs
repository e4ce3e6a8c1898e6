//! Value parsers for the settings. Each trims its input, as shells and env
//! files leave stray spaces; an error says what was expected, and clap puts
//! it after the flag and variable name (`invalid value 'http' for
//! '--api-port <API_PORT>': expected a whole number`).

use crate::domain::signature::WebhookMode;

/// A whole number in `min..=max`.
pub(super) fn whole<T>(
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
pub(super) fn text(raw: &str) -> Result<String, String> {
    match raw.trim() {
        "" => Err("must not be empty".into()),
        value => Ok(value.to_string()),
    }
}

/// An absolute http(s) URL with a host, without its trailing `/`.
pub(super) fn http_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(raw.trim_end_matches('/').to_string())
        }
        _ => Err("expected an http or https URL".into()),
    }
}

/// One item of a comma list; empty items are dropped by [`non_empty`].
pub(super) fn item(raw: &str) -> Result<String, String> {
    Ok(raw.trim().to_string())
}

/// A list without its empty items (`a,,b`, a trailing comma).
pub(super) fn non_empty(items: Vec<String>) -> Vec<String> {
    items.into_iter().filter(|s| !s.is_empty()).collect()
}

/// One item of `RETRY_SCHEDULE`: whole seconds, or empty (skipped).
pub(super) fn seconds_item(raw: &str) -> Result<Option<u64>, String> {
    match raw.trim() {
        "" => Ok(None),
        s => s
            .parse()
            .map(Some)
            .map_err(|_| format!("{s:?} is not a whole number of seconds")),
    }
}

/// `TOPICS_VALIDATE_SCHEMA`'s spellings.
pub(super) fn boolean(raw: &str) -> Result<bool, String> {
    match raw.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

pub(super) fn webhook_mode(raw: &str) -> Result<WebhookMode, String> {
    match raw.trim() {
        "default" => Ok(WebhookMode::Default),
        "standard" => Ok(WebhookMode::Standard),
        _ => Err("expected `default` or `standard`".into()),
    }
}

/// A URL the portal links to or loads: http(s), or a path on this server.
/// Anything else (`javascript:`, a bare word) would be a broken or unsafe
/// link in every user's browser.
pub(super) fn link(raw: &str) -> Result<String, String> {
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
pub(super) fn hex_color(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    let digits = value.strip_prefix('#').unwrap_or("");
    if matches!(digits.len(), 3 | 6) && digits.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err("expected a colour as #rgb or #rrggbb".into())
    }
}

/// `light` or `dark`.
pub(super) fn theme(raw: &str) -> Result<String, String> {
    match raw.trim() {
        t @ ("light" | "dark") => Ok(t.to_string()),
        _ => Err("expected `light` or `dark`".into()),
    }
}

/// An AWS endpoint override: an absolute http(s) URL with a host and no
/// path, query or credentials, returned without a trailing slash.
pub(super) fn endpoint_url(raw: &str) -> Result<String, String> {
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

/// `AWS_REGION`: a region name such as `eu-west-1`.
pub(super) fn aws_region(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    crate::destinations::aws::config::check_region(raw)?;
    Ok(raw.to_string())
}

/// One item of `OPERATOR_EVENTS_TOPICS`: a known topic or `*`.
pub(super) fn operator_topic(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    crate::domain::operator_event::OperatorTopics::parse(&[t]).map_err(|e| e.to_string())?;
    Ok(t.to_owned())
}
