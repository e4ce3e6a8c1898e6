//! A destination's own delivery policy: how many retries, on what
//! schedule, how long one attempt may take, and how many deliveries a
//! second (or minute) it takes at most. Every part is optional;
//! what a destination leaves out follows the deployment's settings
//! (`MAX_RETRY_LIMIT`, `RETRY_INTERVAL_SECONDS`, `RETRY_SCHEDULE`,
//! `DELIVERY_TIMEOUT_SECONDS`). The operator bounds what a tenant may ask
//! for ([`PolicyBounds`]).
//!
//! As JSON (the API's `delivery_policy` and the `destinations` column):
//!
//! ```json
//! {"retry": {"max_retries": 5, "interval_seconds": 10}, "timeout_seconds": 30}
//! {"retry": {"schedule_seconds": [5, 60, 600]}}
//! {"rate_limit": {"per_second": 10}}
//! {"rate_limit": {"per_minute": 100, "burst": 5}}
//! {"ordering": {"key": "data.order_id", "after_failure": "skip"}}
//! ```
//!
//! The rate limit is enforced where deliveries are claimed, in SQL, across
//! every worker process (`deliveries/claim.sql`): a token bucket of
//! `burst` tokens (default: one second's worth, at least 1) refilled at
//! the rate. Deliveries over it wait; none is dropped or failed.
//!
//! A schedule names every retry's delay and so replaces both
//! `max_retries` and `interval_seconds`.
//!
//! Ordering (V26) delivers one event at a time, in publish order, per
//! destination or per value of `key` (a path into the event); after a
//! last failure the lane blocks (the default) or skips it.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::retry::RetryPolicy;
use super::transform::Transform;

/// What the operator lets a destination ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyBounds {
    /// The most retries a destination may ask for.
    pub max_retries: u32,
    /// The longest delay before one retry (and the longest interval).
    pub max_retry_delay: Duration,
    /// The longest timeout of one attempt.
    pub max_timeout: Duration,
}

/// A destination's overrides; `None` parts follow the deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryPolicy {
    pub max_retries: Option<u32>,
    pub interval: Option<Duration>,
    pub schedule: Option<Vec<Duration>>,
    pub timeout: Option<Duration>,
    pub rate_limit: Option<RateLimit>,
    pub ordering: Option<Ordering>,
    /// jq programs that reshape what is sent (`super::transform`).
    pub transform: Option<Transform>,
}

/// One delivery at a time, in publish order: per destination, or per
/// value of `key` in the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordering {
    /// A path into the event (`data.order_id`, `$.metadata.account`), as given.
    pub key: Option<String>,
    /// What a last failure does to its lane.
    pub after_failure: AfterFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// The lane waits until a person retries or skips the delivery.
    Block,
    /// The delivery is given up and the lane goes on.
    Skip,
}

/// At most `per_second` deliveries a second on average, at most `burst`
/// at once. Given per minute, `per_second` is that over 60.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    /// As given: a count per second or per minute.
    pub count: u32,
    pub per_minute: bool,
    /// As given, if it was.
    pub burst: Option<u32>,
}

impl Ordering {
    fn read(o: &Map<String, Value>, errors: &mut Vec<String>) -> Option<Ordering> {
        let before = errors.len();
        for key in o.keys() {
            if !["key", "after_failure"].contains(&key.as_str()) {
                errors.push(format!(
                    "delivery_policy.ordering.{key} is not an ordering field (key, after_failure)"
                ));
            }
        }
        let key = match o.get("key") {
            None | Some(Value::Null) => None,
            Some(Value::String(k)) if key_path_is_valid(k) => Some(k.clone()),
            Some(Value::String(k)) => {
                errors.push(format!(
                    "delivery_policy.ordering.key {k:?} is not a path into the event: \
                     names joined by dots, as in data.order_id or $.metadata.account \
                     (\"quoted\" for other characters, [n] for a list's item)"
                ));
                None
            }
            Some(_) => {
                errors.push("delivery_policy.ordering.key must be a string".into());
                None
            }
        };
        let after_failure = match o.get("after_failure") {
            None | Some(Value::Null) => AfterFailure::Block,
            Some(v) if v == "block" => AfterFailure::Block,
            Some(v) if v == "skip" => AfterFailure::Skip,
            Some(_) => {
                errors.push(
                    "delivery_policy.ordering.after_failure must be \"block\" or \"skip\"".into(),
                );
                AfterFailure::Block
            }
        };
        (errors.len() == before).then_some(Ordering { key, after_failure })
    }
}

/// Whether `key` is a path the fan-out can read (V26's CHECK says the
/// same): `$.` (optional) then names, "quoted names" and `[n]` indexes.
fn key_path_is_valid(key: &str) -> bool {
    let mut rest = key.strip_prefix('$').unwrap_or(key);
    if !key.starts_with('$') {
        // `data.order_id` reads as `$.data.order_id`.
        if rest.starts_with('[') {
            return false;
        }
        if rest.is_empty() {
            return false;
        }
        let name_end = rest.find(['.', '[']).unwrap_or(rest.len());
        if !is_name(&rest[..name_end]) && !is_quoted(&rest[..name_end]) {
            return false;
        }
        rest = &rest[name_end..];
    } else if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = if let Some(quoted) = after.strip_prefix('"') {
                match quoted.find('"') {
                    Some(i) => i + 2,
                    None => return false,
                }
            } else {
                after.find(['.', '[']).unwrap_or(after.len())
            };
            let segment = &after[..end];
            if !is_name(segment) && !is_quoted(segment) {
                return false;
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some(end) = after.find(']') else {
                return false;
            };
            if end == 0 || !after[..end].bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            rest = &after[end + 1..];
        } else {
            return false;
        }
    }
    true
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_quoted(s: &str) -> bool {
    s.len() > 2
        && s.starts_with('"')
        && s.ends_with('"')
        && !s[1..s.len() - 1].contains(['"', '\\'])
}

/// The most deliveries a second a limit may name (and a burst may hold).
const MOST_PER_SECOND: u64 = 100_000;

impl DeliveryPolicy {
    /// Parses and checks a policy from the API; every problem is one
    /// message naming its field. `null` is the empty policy.
    pub fn parse(value: &Value, bounds: &PolicyBounds) -> Result<DeliveryPolicy, Vec<String>> {
        let mut errors = Vec::new();
        let policy = Self::read(value, Some(bounds), &mut errors);
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(errors)
        }
    }

    /// A policy as stored: what a worker reads from the claim. It was
    /// checked when saved through the API; one written by hand in SQL keeps
    /// the parts that make sense (nothing here can fail a delivery).
    pub fn stored(value: &Value) -> DeliveryPolicy {
        Self::read(value, None, &mut Vec::new())
    }

    fn read(value: &Value, bounds: Option<&PolicyBounds>, errors: &mut Vec<String>) -> Self {
        let mut policy = DeliveryPolicy::default();
        let object = match value {
            Value::Null => return policy,
            Value::Object(o) => o,
            _ => {
                errors.push("delivery_policy must be an object".into());
                return policy;
            }
        };
        for key in object.keys() {
            if ![
                "retry",
                "timeout_seconds",
                "rate_limit",
                "ordering",
                "transform",
            ]
            .contains(&key.as_str())
            {
                errors.push(format!(
                    "delivery_policy.{key} is not a policy field \
                     (retry, timeout_seconds, rate_limit, ordering, transform)"
                ));
            }
        }
        if let Some(t) = object.get("timeout_seconds").filter(|v| !v.is_null()) {
            let most = bounds.map_or(u64::MAX, |b| b.max_timeout.as_secs());
            policy.timeout = seconds(t, "delivery_policy.timeout_seconds", 1, most, errors);
        }
        match object.get("retry") {
            None | Some(Value::Null) => {}
            Some(Value::Object(retry)) => policy.read_retry(retry, bounds, errors),
            Some(_) => errors.push("delivery_policy.retry must be an object".into()),
        }
        match object.get("rate_limit") {
            None | Some(Value::Null) => {}
            Some(Value::Object(limit)) => policy.rate_limit = RateLimit::read(limit, errors),
            Some(_) => errors.push("delivery_policy.rate_limit must be an object".into()),
        }
        match object.get("ordering") {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) => policy.ordering = Ordering::read(o, errors),
            Some(_) => errors.push("delivery_policy.ordering must be an object".into()),
        }
        if let Some(t) = object.get("transform") {
            policy.transform = Transform::read(t, bounds.is_some(), errors);
        }
        policy
    }

    /// Whether a last failure blocks the delivery's lane.
    pub fn blocks_after_failure(&self) -> bool {
        self.ordering
            .as_ref()
            .is_some_and(|o| o.after_failure == AfterFailure::Block)
    }

    fn read_retry(
        &mut self,
        retry: &Map<String, Value>,
        bounds: Option<&PolicyBounds>,
        errors: &mut Vec<String>,
    ) {
        let most_retries = bounds.map_or(u32::MAX, |b| b.max_retries);
        let most_delay = bounds.map_or(u64::MAX, |b| b.max_retry_delay.as_secs());
        for key in retry.keys() {
            if !["max_retries", "interval_seconds", "schedule_seconds"].contains(&key.as_str()) {
                errors.push(format!(
                    "delivery_policy.retry.{key} is not a retry field \
                     (max_retries, interval_seconds, schedule_seconds)"
                ));
            }
        }
        let field = |name: &str| retry.get(name).filter(|v| !v.is_null());
        if let Some(list) = field("schedule_seconds") {
            if field("max_retries").is_some() || field("interval_seconds").is_some() {
                errors.push(
                    "delivery_policy.retry.schedule_seconds names every retry's delay: \
                     leave out max_retries and interval_seconds"
                        .into(),
                );
            }
            let name = "delivery_policy.retry.schedule_seconds";
            match list.as_array() {
                None => errors.push(format!("{name} must be a list of whole seconds")),
                Some(items) if items.len() as u64 > u64::from(most_retries) => errors.push(
                    format!("{name} may list at most {most_retries} delays (one per retry)"),
                ),
                Some(items) => {
                    let delays: Vec<Duration> = items
                        .iter()
                        .filter_map(|d| seconds(d, name, 1, most_delay, errors))
                        .collect();
                    if delays.len() == items.len() {
                        self.schedule = Some(delays);
                    }
                }
            }
            return;
        }
        if let Some(n) = field("max_retries") {
            match n.as_u64().filter(|n| *n <= u64::from(most_retries)) {
                Some(n) => self.max_retries = u32::try_from(n).ok(),
                None => errors.push(format!(
                    "delivery_policy.retry.max_retries must be a whole number from 0 to {most_retries}"
                )),
            }
        }
        if let Some(i) = field("interval_seconds") {
            self.interval = seconds(
                i,
                "delivery_policy.retry.interval_seconds",
                1,
                most_delay,
                errors,
            );
        }
    }

    /// Whether the destination follows the deployment in everything.
    pub fn is_empty(&self) -> bool {
        *self == DeliveryPolicy::default()
    }

    /// The policy as the API shows it and the column stores it.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        let mut retry = Map::new();
        if let Some(n) = self.max_retries {
            retry.insert("max_retries".into(), json!(n));
        }
        if let Some(i) = self.interval {
            retry.insert("interval_seconds".into(), json!(i.as_secs()));
        }
        if let Some(s) = &self.schedule {
            let s: Vec<u64> = s.iter().map(Duration::as_secs).collect();
            retry.insert("schedule_seconds".into(), json!(s));
        }
        if !retry.is_empty() {
            out.insert("retry".into(), Value::Object(retry));
        }
        if let Some(t) = self.timeout {
            out.insert("timeout_seconds".into(), json!(t.as_secs()));
        }
        if let Some(r) = &self.rate_limit {
            let mut limit = Map::new();
            let unit = if r.per_minute {
                "per_minute"
            } else {
                "per_second"
            };
            limit.insert(unit.into(), json!(r.count));
            if let Some(b) = r.burst {
                limit.insert("burst".into(), json!(b));
            }
            out.insert("rate_limit".into(), Value::Object(limit));
        }
        if let Some(o) = &self.ordering {
            let mut ordering = Map::new();
            if let Some(k) = &o.key {
                ordering.insert("key".into(), json!(k));
            }
            let after = match o.after_failure {
                AfterFailure::Block => "block",
                AfterFailure::Skip => "skip",
            };
            ordering.insert("after_failure".into(), json!(after));
            out.insert("ordering".into(), Value::Object(ordering));
        }
        if let Some(t) = &self.transform {
            out.insert("transform".into(), t.to_json());
        }
        Value::Object(out)
    }

    /// The retry policy for this destination: its overrides over the
    /// deployment's `default`.
    pub fn retry_policy(&self, default: &RetryPolicy) -> RetryPolicy {
        if let Some(s) = &self.schedule {
            return RetryPolicy::Schedule(s.clone());
        }
        match (default, self.max_retries, self.interval) {
            (_, None, None) => default.clone(),
            (
                RetryPolicy::Exponential {
                    interval,
                    max_retries,
                },
                n,
                i,
            ) => RetryPolicy::Exponential {
                interval: i.unwrap_or(*interval),
                max_retries: n.unwrap_or(*max_retries),
            },
            // An interval over a deployment's schedule: exponential from
            // it, as many retries as the schedule has unless also given.
            (RetryPolicy::Schedule(s), n, Some(interval)) => RetryPolicy::Exponential {
                interval,
                max_retries: n.unwrap_or(u32::try_from(s.len()).unwrap_or(u32::MAX)),
            },
            // Only a count over a deployment's schedule: the schedule cut to
            // it, or its last delay repeated up to it.
            (RetryPolicy::Schedule(s), Some(n), None) => {
                let last = s.last().copied().unwrap_or(Duration::from_secs(30));
                let n = n as usize;
                RetryPolicy::Schedule((0..n).map(|i| s.get(i).copied().unwrap_or(last)).collect())
            }
        }
    }

    /// How long one attempt may take: its own timeout, else `default`.
    pub fn timeout(&self, default: Duration) -> Duration {
        self.timeout.unwrap_or(default)
    }
}

impl RateLimit {
    fn read(limit: &Map<String, Value>, errors: &mut Vec<String>) -> Option<RateLimit> {
        let before = errors.len();
        for key in limit.keys() {
            if !["per_second", "per_minute", "burst"].contains(&key.as_str()) {
                errors.push(format!(
                    "delivery_policy.rate_limit.{key} is not a rate limit field \
                     (per_second, per_minute, burst)"
                ));
            }
        }
        let count = |name: &str, most: u64, errors: &mut Vec<String>| {
            let v = limit.get(name).filter(|v| !v.is_null())?;
            let n = v.as_u64().filter(|n| (1..=most).contains(n));
            if n.is_none() {
                errors.push(format!(
                    "delivery_policy.rate_limit.{name} must be a whole number from 1 to {most}"
                ));
            }
            n.and_then(|n| u32::try_from(n).ok())
        };
        let second = count("per_second", MOST_PER_SECOND, errors);
        let minute = count("per_minute", MOST_PER_SECOND * 60, errors);
        let burst = count("burst", MOST_PER_SECOND, errors);
        let (count, per_minute) = match (second, minute) {
            (Some(n), None) => (n, false),
            (None, Some(n)) => (n, true),
            (Some(_), Some(_)) => {
                errors.push(
                    "delivery_policy.rate_limit takes per_second or per_minute, not both".into(),
                );
                return None;
            }
            (None, None) => {
                if errors.len() == before {
                    errors.push("delivery_policy.rate_limit needs per_second or per_minute".into());
                }
                return None;
            }
        };
        (errors.len() == before).then_some(RateLimit {
            count,
            per_minute,
            burst,
        })
    }

    /// Deliveries a second on average.
    pub fn per_second(&self) -> f64 {
        match self.per_minute {
            true => f64::from(self.count) / 60.0,
            false => f64::from(self.count),
        }
    }

    /// The most deliveries at once: as given, else one second's worth (at
    /// least 1).
    pub fn burst(&self) -> f64 {
        match self.burst {
            Some(b) => f64::from(b),
            None => self.per_second().ceil().max(1.0),
        }
    }
}

/// Whole seconds from `least` to `most`, else a message naming `name`.
fn seconds(
    value: &Value,
    name: &str,
    least: u64,
    most: u64,
    errors: &mut Vec<String>,
) -> Option<Duration> {
    match value.as_u64().filter(|s| (least..=most).contains(s)) {
        Some(s) => Some(Duration::from_secs(s)),
        None => {
            let range = if most == u64::MAX {
                format!("at least {least}")
            } else {
                format!("from {least} to {most}")
            };
            errors.push(format!("{name} must be whole seconds, {range}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> PolicyBounds {
        PolicyBounds {
            max_retries: 20,
            max_retry_delay: Duration::from_secs(3600),
            max_timeout: Duration::from_secs(30),
        }
    }

    fn secs(s: &[u64]) -> Vec<Duration> {
        s.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn a_policy_reads_back_as_written() {
        for v in [
            json!({}),
            json!({"timeout_seconds": 30}),
            json!({"retry": {"max_retries": 3, "interval_seconds": 10}}),
            json!({"retry": {"schedule_seconds": [1, 60, 600]}, "timeout_seconds": 2}),
            json!({"rate_limit": {"per_second": 10}}),
            json!({"rate_limit": {"per_minute": 90, "burst": 3}, "timeout_seconds": 2}),
            json!({"transform": {"body": ".data", "headers": "{}"}, "timeout_seconds": 2}),
        ] {
            let p = DeliveryPolicy::parse(&v, &bounds()).unwrap();
            assert_eq!(p.to_json(), v);
            assert_eq!(DeliveryPolicy::stored(&v), p);
        }
        assert!(DeliveryPolicy::parse(&Value::Null, &bounds())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn what_is_out_of_bounds_or_unknown_is_named() {
        let refused = |v: Value| DeliveryPolicy::parse(&v, &bounds()).unwrap_err().join("; ");
        assert!(refused(json!({"timeout_seconds": 31}))
            .contains("timeout_seconds must be whole seconds, from 1 to 30"));
        assert!(refused(json!({"timeout_seconds": 0})).contains("timeout_seconds"));
        assert!(refused(json!({"timeout_seconds": "5"})).contains("timeout_seconds"));
        assert!(refused(json!({"retry": {"max_retries": 21}}))
            .contains("max_retries must be a whole number from 0 to 20"));
        assert!(refused(json!({"retry": {"interval_seconds": 3601}})).contains("interval_seconds"));
        assert!(
            refused(json!({"retry": {"schedule_seconds": [1, 0]}})).contains("schedule_seconds")
        );
        assert!(refused(json!({"retry": {"schedule_seconds": vec![1; 21]}}))
            .contains("at most 20 delays"));
        assert!(
            refused(json!({"retry": {"schedule_seconds": [1], "max_retries": 2}}))
                .contains("leave out max_retries")
        );
        assert!(refused(json!({"retries": 3}))
            .contains("delivery_policy.retries is not a policy field"));
        assert!(refused(json!({"retry": {"count": 3}}))
            .contains("delivery_policy.retry.count is not a retry field"));
        assert!(refused(json!([1])).contains("must be an object"));
        assert!(refused(json!({"rate_limit": {}})).contains("needs per_second or per_minute"));
        assert!(
            refused(json!({"rate_limit": {"per_second": 1, "per_minute": 60}}))
                .contains("not both")
        );
        assert!(refused(json!({"rate_limit": {"per_second": 0}}))
            .contains("rate_limit.per_second must be a whole number from 1 to 100000"));
        assert!(
            refused(json!({"rate_limit": {"per_second": 2, "burst": 0}}))
                .contains("rate_limit.burst")
        );
        assert!(refused(json!({"rate_limit": {"per_hour": 2}}))
            .contains("rate_limit.per_hour is not a rate limit field"));
        assert!(refused(json!({"rate_limit": 5})).contains("rate_limit must be an object"));
    }

    #[test]
    fn a_rate_limits_bucket_holds_a_second_unless_told() {
        let r = |v: Value| {
            DeliveryPolicy::parse(&json!({"rate_limit": v}), &bounds())
                .unwrap()
                .rate_limit
                .unwrap()
        };
        assert_eq!(
            (
                r(json!({"per_second": 10})).per_second(),
                r(json!({"per_second": 10})).burst()
            ),
            (10.0, 10.0)
        );
        assert_eq!(
            (
                r(json!({"per_minute": 30})).per_second(),
                r(json!({"per_minute": 30})).burst()
            ),
            (0.5, 1.0)
        );
        assert_eq!(r(json!({"per_minute": 90, "burst": 4})).burst(), 4.0);
    }

    #[test]
    fn overrides_apply_over_the_deployments_policy() {
        let exp = RetryPolicy::Exponential {
            interval: Duration::from_secs(30),
            max_retries: 10,
        };
        let schedule = RetryPolicy::Schedule(secs(&[5, 60]));
        let p = |v: Value| DeliveryPolicy::parse(&v, &bounds()).unwrap();
        assert_eq!(p(json!({})).retry_policy(&exp), exp);
        assert_eq!(
            p(json!({"retry": {"max_retries": 2}})).retry_policy(&exp),
            RetryPolicy::Exponential {
                interval: Duration::from_secs(30),
                max_retries: 2
            }
        );
        assert_eq!(
            p(json!({"retry": {"schedule_seconds": [1, 2]}})).retry_policy(&exp),
            RetryPolicy::Schedule(secs(&[1, 2]))
        );
        assert_eq!(
            p(json!({"retry": {"max_retries": 4}})).retry_policy(&schedule),
            RetryPolicy::Schedule(secs(&[5, 60, 60, 60]))
        );
        assert_eq!(
            p(json!({"retry": {"max_retries": 1}})).retry_policy(&schedule),
            RetryPolicy::Schedule(secs(&[5]))
        );
        assert_eq!(
            p(json!({"retry": {"interval_seconds": 2}})).retry_policy(&schedule),
            RetryPolicy::Exponential {
                interval: Duration::from_secs(2),
                max_retries: 2
            }
        );
        assert_eq!(
            p(json!({"retry": {"max_retries": 0}}))
                .retry_policy(&exp)
                .max_retries(),
            0
        );
        assert_eq!(
            p(json!({"timeout_seconds": 9})).timeout(Duration::from_secs(5)),
            Duration::from_secs(9)
        );
        assert_eq!(
            p(json!({})).timeout(Duration::from_secs(5)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn a_hand_written_policy_keeps_what_makes_sense() {
        let p =
            DeliveryPolicy::stored(&json!({"timeout_seconds": "x", "retry": {"max_retries": 3}}));
        assert_eq!(p.timeout, None);
        assert_eq!(p.max_retries, Some(3));
        assert!(DeliveryPolicy::stored(&json!("nonsense")).is_empty());
    }

    #[test]
    fn an_ordering_reads_back_and_its_key_is_checked() {
        let p = DeliveryPolicy::parse(&json!({"ordering": {}}), &bounds()).unwrap();
        assert!(p.blocks_after_failure());
        assert_eq!(p.to_json(), json!({"ordering": {"after_failure": "block"}}));
        let written = json!({"ordering": {"key": "data.order_id", "after_failure": "skip"}});
        let p = DeliveryPolicy::parse(&written, &bounds()).unwrap();
        assert!(!p.blocks_after_failure());
        assert_eq!(p.to_json(), written);
        for good in [
            "data.order_id",
            "$.data.order_id",
            "metadata.account",
            "data.items[0].sku",
            "data.\"order-id\"",
            "$[0]",
        ] {
            assert!(key_path_is_valid(good), "{good}");
        }
        for bad in [
            "",
            "$",
            "data.",
            ".data",
            "data..x",
            "data[x]",
            "data[]",
            "1abc",
            "data.\"a\\b\"",
            "data.a b",
            "data.\"open",
            "data['x']",
            "$.data ? (@ > 1)",
        ] {
            assert!(!key_path_is_valid(bad), "{bad}");
        }
        let errors = DeliveryPolicy::parse(
            &json!({"ordering": {"key": "data[x]", "after_failure": "later", "by": 1}}),
            &bounds(),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("delivery_policy.ordering.by is not an ordering field"));
        assert!(errors[1].contains("delivery_policy.ordering.key \"data[x]\""));
        assert!(errors[2].contains("\"block\" or \"skip\""));
    }
}
