//! Query strings as Outpost writes them: repeated or bracketed keys for
//! lists (`topic=a&topic=b`, `topic[]=a`, `topic[0]=a`), `time[gte]=…`
//! for ranges, and cursor pagination (`limit`, `dir`, `next`, `prev`).

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use super::error::ApiError;
use crate::store::logs::{Key, TimeRange};

/// Parsed query: each name with all its values, in order. As an extractor
/// it is the request's query string (never refused: a bad value is the
/// parameter's own error, reported where it is read).
#[derive(Debug, Default)]
pub struct QueryMap(HashMap<String, Vec<String>>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for QueryMap {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(QueryMap::parse(parts.uri.query()))
    }
}

impl QueryMap {
    pub fn parse(raw: Option<&str>) -> QueryMap {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        let Some(raw) = raw else {
            return QueryMap(map);
        };
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (decode(k), decode(v));
            // `name[]` and `name[0]` are list items of `name`; `name[op]` stays.
            let key = match k.split_once('[') {
                Some((base, rest)) => {
                    let inner = rest.trim_end_matches(']');
                    if inner.is_empty() || inner.chars().all(|c| c.is_ascii_digit()) {
                        base.to_string()
                    } else {
                        k.clone()
                    }
                }
                None => k,
            };
            map.entry(key).or_default().push(v);
        }
        QueryMap(map)
    }

    pub fn one(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.last()).map(String::as_str)
    }

    /// All values of a list parameter; comma-separated values split too.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.0.get(name).map(|vals| {
            vals.iter()
                .flat_map(|v| v.split(','))
                .filter(|v| !v.is_empty())
                .map(String::from)
                .collect()
        })
    }

    /// A list parameter of typed values (ids, kinds). A value that cannot
    /// parse names nothing that exists, so it is left out rather than
    /// refused; the filter still applies, and may then match nothing.
    pub fn parsed<T: TryFrom<String>>(&self, name: &str) -> Option<Vec<T>> {
        self.list(name)
            .map(|l| l.into_iter().filter_map(|v| T::try_from(v).ok()).collect())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn time_range(&self, name: &str) -> Result<TimeRange, ApiError> {
        let parse = |op: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
            match self.one(&format!("{name}[{op}]")) {
                None => Ok(None),
                Some(v) => DateTime::parse_from_rfc3339(v)
                    .map(|t| Some(t.to_utc()))
                    .map_err(|_| {
                        ApiError::bad_request(format!("{name}[{op}] must be an RFC 3339 date-time"))
                    }),
            }
        };
        Ok(TimeRange {
            gte: parse("gte")?,
            lte: parse("lte")?,
            gt: parse("gt")?,
            lt: parse("lt")?,
        })
    }

    /// `include=a&include[]=b` as a set of names.
    pub fn includes(&self, what: &str) -> bool {
        self.list("include")
            .is_some_and(|l| l.iter().any(|i| i == what))
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What page is asked for.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// The field pages are ordered by, as reported in `pagination`.
    pub order_by: &'static str,
    pub limit: i64,
    /// The order the client sees.
    pub descending: bool,
    /// Start after this key (exclusive).
    pub cursor: Option<Key>,
    /// The cursor came from `prev`: walk the other way, then flip.
    pub backwards: bool,
}

impl PageRequest {
    pub fn parse(
        q: &QueryMap,
        order_by: &'static str,
        default_limit: i64,
        max_limit: i64,
    ) -> Result<PageRequest, ApiError> {
        let limit = match q.one("limit") {
            None => default_limit,
            Some(l) => l
                .parse()
                .ok()
                .filter(|n| (1..=max_limit).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("limit must be an integer from 1 to {max_limit}"))
                })?,
        };
        let descending = match q.one("dir") {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err(ApiError::bad_request("dir must be asc or desc")),
        };
        if let Some(o) = q.one("order_by") {
            if o != order_by {
                return Err(ApiError::bad_request(format!(
                    "order_by must be {order_by}"
                )));
            }
        }
        let (cursor, backwards) = match (q.one("next"), q.one("prev")) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request(
                    "next and prev are mutually exclusive",
                ))
            }
            (Some(n), None) if !n.is_empty() => (Some(decode_cursor(n)?), false),
            (None, Some(p)) if !p.is_empty() => (Some(decode_cursor(p)?), true),
            _ => (None, false),
        };
        Ok(PageRequest {
            order_by,
            limit,
            descending,
            cursor,
            backwards,
        })
    }

    /// The direction to ask the store for.
    pub fn query_descending(&self) -> bool {
        self.descending != self.backwards
    }

    /// Rows fetched with `limit + 1` in `query_descending()` order → the
    /// page in client order, and the next/prev cursors.
    pub fn finish<T>(
        &self,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> Key,
    ) -> (Vec<T>, Option<String>, Option<String>) {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        if self.backwards {
            rows.reverse();
            let next = rows.last().map(|r| encode_cursor(&key(r)));
            let prev = if more {
                rows.first().map(|r| encode_cursor(&key(r)))
            } else {
                None
            };
            (rows, next, prev)
        } else {
            let next = if more {
                rows.last().map(|r| encode_cursor(&key(r)))
            } else {
                None
            };
            let prev = if self.cursor.is_some() {
                rows.first().map(|r| encode_cursor(&key(r)))
            } else {
                None
            };
            (rows, next, prev)
        }
    }

    pub fn pagination(&self, next: Option<String>, prev: Option<String>) -> serde_json::Value {
        serde_json::json!({
            "order_by": self.order_by,
            "dir": if self.descending { "desc" } else { "asc" },
            "limit": self.limit,
            "next": next,
            "prev": prev,
        })
    }
}

pub fn encode_cursor(k: &Key) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", k.time.timestamp_micros(), k.id))
}

pub fn decode_cursor(s: &str) -> Result<Key, ApiError> {
    let bad = || ApiError::bad_request("invalid cursor");
    let raw =
        String::from_utf8(URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?).map_err(|_| bad())?;
    let (micros, id) = raw.split_once('|').ok_or_else(bad)?;
    let time = DateTime::<Utc>::from_timestamp_micros(micros.parse().map_err(|_| bad())?)
        .ok_or_else(bad)?;
    Ok(Key {
        time,
        id: id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_and_repeats_make_lists() {
        let q = QueryMap::parse(Some("topic[0]=a&topic[1]=b&tenant_id[]=t1&tenant_id=t2&time[gte]=2026-01-01T00:00:00Z&x=%20y+z"));
        assert_eq!(q.list("topic"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(q.list("tenant_id"), Some(vec!["t1".into(), "t2".into()]));
        assert!(q.time_range("time").unwrap().gte.is_some());
        assert_eq!(q.one("x"), Some(" y z"));
        assert!(QueryMap::parse(Some("time[gt]=yesterday"))
            .time_range("time")
            .is_err());
    }

    #[test]
    fn cursors_round_trip() {
        let k = Key {
            time: Utc::now(),
            id: "evt|1".into(),
        };
        let back = decode_cursor(&encode_cursor(&k)).unwrap();
        assert_eq!(back.id, k.id);
        assert_eq!(back.time.timestamp_micros(), k.time.timestamp_micros());
        assert!(decode_cursor("%%%").is_err());
    }
}
