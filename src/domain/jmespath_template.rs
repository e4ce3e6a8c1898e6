//! JMESPath templates, as Outpost uses them to name things after the event:
//! an S3 object's key (`config.key_template`) and a Kinesis record's
//! partition key (`config.partition_key_template`).
//!
//! A template is compiled when a destination is created or changed (a
//! syntax error is a 422 naming the field) and evaluated per message over a
//! JSON document built from the event. The result becomes text the way
//! Outpost's Go code makes it: a string as is, a number as Go's `%g` prints
//! a float64 (`1234567` → `1.234567e+06`, since Go decodes every JSON
//! number as a float64), a boolean as `true`/`false`. `null` means "no
//! value"; each caller decides what that means. Arrays and objects become
//! their JSON text.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{json, Value};

/// Outpost's S3 object key when `key_template` is not set.
pub const DEFAULT_S3_KEY_TEMPLATE: &str =
    r#"join('', [time.rfc3339_nano, '_', metadata."event-id", '.json'])"#;

/// Checks that `template` is a JMESPath expression.
pub fn check(template: &str) -> Result<(), String> {
    jmespath::compile(template).map(drop).map_err(|e| {
        format!(
            "is not a valid JMESPath expression: {}",
            one_line(&e.to_string())
        )
    })
}

/// Evaluates `template` over `document`. `Ok(None)` when it yields `null`.
pub fn evaluate(template: &str, document: &Value) -> Result<Option<String>, String> {
    let expression = jmespath::compile(template).map_err(|e| one_line(&e.to_string()))?;
    let found = expression
        .search(document)
        .map_err(|e| one_line(&e.to_string()))?;
    let value = serde_json::to_value(&*found).map_err(|e| e.to_string())?;
    Ok(text(&value))
}

/// A value as Outpost's templates turn it into text; None for `null`.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.as_f64().map_or_else(|| n.to_string(), go_g)),
        other => Some(other.to_string()),
    }
}

/// Go's `fmt.Sprintf("%g", f)`: the shortest digits that read back as `f`,
/// in exponent form (`1e+06`, `1.5e-05`) when the exponent is below -4 or
/// at least 6.
fn go_g(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's `{:e}` is the shortest round-trip form: "1.234567e6".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    // Plain notation: Rust's `Display` is also shortest and never uses an
    // exponent.
    let plain = f.to_string();
    plain
        .strip_suffix(".0")
        .map_or(plain.clone(), str::to_string)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Go's `time.RFC3339Nano` of `t` in UTC: the fraction without trailing
/// zeros, none at all on a whole second (`2026-11-29T10:00:00.12Z`).
pub fn rfc3339_nano(t: DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos == 0 {
        return format!("{base}Z");
    }
    let fraction = format!("{nanos:09}");
    format!("{base}.{}Z", fraction.trim_end_matches('0'))
}

/// The `time` object S3 key templates see, from the event's time (UTC),
/// with Outpost's fields: `year`, `month`, `day`, `hour`, `minute`,
/// `second` (zero-padded), `date`, `datetime`, `unix`, `rfc3339`,
/// `rfc3339_nano`, all strings.
pub fn time_fields(t: DateTime<Utc>) -> Value {
    json!({
        "year": format!("{:04}", t.year()),
        "month": format!("{:02}", t.month()),
        "day": format!("{:02}", t.day()),
        "hour": format!("{:02}", t.hour()),
        "minute": format!("{:02}", t.minute()),
        "second": format!("{:02}", t.second()),
        "date": t.format("%Y-%m-%d").to_string(),
        "datetime": t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        "unix": t.timestamp().to_string(),
        "rfc3339": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "rfc3339_nano": rfc3339_nano(t),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compile_or_say_why_not() {
        assert_eq!(check(DEFAULT_S3_KEY_TEMPLATE), Ok(()));
        assert_eq!(check("data.user.id"), Ok(()));
        let err = check("join('', [data.a").unwrap_err();
        assert!(
            err.starts_with("is not a valid JMESPath expression"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        assert!(check("data.[").is_err());
    }

    #[test]
    fn results_become_text_as_in_outpost() {
        let doc = json!({"data": {"s": "x", "n": 1234567, "small": 0.00001, "i": 42,
                                  "f": 1.5, "b": true, "a": [1, "b"], "none": null},
                         "metadata": {"event-id": "evt_1"}});
        let eval = |t: &str| evaluate(t, &doc).unwrap();
        assert_eq!(eval("data.s").as_deref(), Some("x"));
        assert_eq!(eval("data.n").as_deref(), Some("1.234567e+06"));
        assert_eq!(eval("data.small").as_deref(), Some("1e-05"));
        assert_eq!(eval("data.i").as_deref(), Some("42"));
        assert_eq!(eval("data.f").as_deref(), Some("1.5"));
        assert_eq!(eval("data.b").as_deref(), Some("true"));
        assert_eq!(eval("data.a").as_deref(), Some("[1,\"b\"]"));
        assert_eq!(eval("data.none"), None);
        assert_eq!(eval("data.missing"), None);
        assert_eq!(eval("metadata.\"event-id\"").as_deref(), Some("evt_1"));
        // A type error at evaluation is an error, not a value.
        assert!(evaluate("join('', data.n)", &doc).is_err());
    }

    #[test]
    fn go_g_matches_go() {
        for (f, expected) in [
            (0.0, "0"),
            (1.0, "1"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (-2.5e-7, "-2.5e-07"),
            (0.0001, "0.0001"),
            (1e21, "1e+21"),
            (3.25, "3.25"),
        ] {
            assert_eq!(go_g(f), expected, "{f}");
        }
    }

    #[test]
    fn time_fields_as_outpost_has_them() {
        let t = DateTime::parse_from_rfc3339("2026-03-04T05:06:07.120Z")
            .unwrap()
            .to_utc();
        let f = time_fields(t);
        assert_eq!(f["year"], "2026");
        assert_eq!(f["month"], "03");
        assert_eq!(f["day"], "04");
        assert_eq!(f["hour"], "05");
        assert_eq!(f["minute"], "06");
        assert_eq!(f["second"], "07");
        assert_eq!(f["date"], "2026-03-04");
        assert_eq!(f["datetime"], "2026-03-04T05:06:07");
        assert_eq!(f["unix"], t.timestamp().to_string());
        assert_eq!(f["rfc3339"], "2026-03-04T05:06:07Z");
        assert_eq!(f["rfc3339_nano"], "2026-03-04T05:06:07.12Z");
        let whole = DateTime::parse_from_rfc3339("2026-03-04T05:06:07Z")
            .unwrap()
            .to_utc();
        assert_eq!(rfc3339_nano(whole), "2026-03-04T05:06:07Z");
        let key = evaluate(
            DEFAULT_S3_KEY_TEMPLATE,
            &json!({"time": f, "metadata": {"event-id": "evt_1"}, "data": {}}),
        )
        .unwrap();
        assert_eq!(key.as_deref(), Some("2026-03-04T05:06:07.12Z_evt_1.json"));
    }
}
