//! Partition keys from a JMESPath template, as Outpost derives them for the
//! streaming types (`partition_key_template`).
//!
//! The template is evaluated over the document `{"metadata": {…}, "data":
//! {…}}`: the delivery's metadata map (system keys, delivery metadata, event
//! metadata) and the event's data. A string result is the key; a number,
//! boolean or anything else is turned into text the way Outpost (Go's `%g`,
//! `%t`) does, so a destination moved from Outpost keeps its keys and hence
//! its partitions. No template, a template that fails at evaluation, a null
//! or an empty string all mean the fallback: the event id.

use jmespath::Variable;
use serde_json::{Map, Value};

use super::metadata::MessageMetadata;

/// A template that does not compile; the message says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a valid JMESPath expression: {0}")]
pub struct TemplateError(String);

/// Compiles `template`, to refuse a bad one when the destination is saved.
pub fn check(template: &str) -> Result<(), TemplateError> {
    jmespath::compile(template)
        .map(|_| ())
        .map_err(|e| TemplateError(e.to_string()))
}

/// The document a template reads: `{"metadata": …, "data": …}`.
pub fn document(metadata: &MessageMetadata, data: &Value) -> Value {
    let metadata: Map<String, Value> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    let mut doc = Map::with_capacity(2);
    doc.insert("metadata".into(), Value::Object(metadata));
    doc.insert("data".into(), data.clone());
    Value::Object(doc)
}

/// The key `template` (if any) gives for `document`, or `fallback`.
pub fn evaluate(template: Option<&str>, document: &Value, fallback: &str) -> String {
    let Some(template) = template.filter(|t| !t.is_empty()) else {
        return fallback.to_string();
    };
    let found = jmespath::compile(template).and_then(|expr| expr.search(document));
    let Ok(found) = found else {
        return fallback.to_string();
    };
    match &*found {
        Variable::Null => fallback.to_string(),
        Variable::String(s) if s.is_empty() => fallback.to_string(),
        Variable::String(s) => s.clone(),
        Variable::Bool(b) => b.to_string(),
        Variable::Number(n) => n.as_f64().map(go_g).unwrap_or_else(|| n.to_string()),
        // Go prints maps and slices in its own syntax, which nobody would
        // key on on purpose; JSON text keeps such keys stable and readable.
        other => serde_json::to_string(other).unwrap_or_else(|_| fallback.to_string()),
    }
}

/// `f` as Go's `fmt.Sprintf("%g", f)` prints it: the shortest digits that
/// read back as `f`, in exponent form when the decimal exponent is below -4
/// or at least 6 (`1e+06`, `1.5e-05`), plain otherwise (`42`, `0.001`).
pub fn go_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits as Go.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    // Plain notation: place the decimal point `exp + 1` digits in.
    let point = exp + 1;
    let text = if point <= 0 {
        let zeros = "0".repeat(point.unsigned_abs() as usize);
        format!("0.{zeros}{digits}")
    } else {
        let point = point as usize;
        if digits.len() <= point {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;

    fn doc() -> Value {
        let at = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let meta =
            MessageMetadata::new("evt_1", "user.created", at, None, &json!({"region": "eu"}));
        document(
            &meta,
            &json!({"user": {"id": "u_7", "n": 42, "f": 1.5, "ok": true, "tags": ["a"]}, "empty": ""}),
        )
    }

    #[test]
    fn templates_pick_keys_from_metadata_and_data() {
        let d = doc();
        let key = |t: &str| evaluate(Some(t), &d, "evt_1");
        assert_eq!(key("data.user.id"), "u_7");
        assert_eq!(key("metadata.\"event-id\""), "evt_1");
        assert_eq!(key("metadata.region"), "eu");
        assert_eq!(key("metadata.topic"), "user.created");
        assert_eq!(key("join('-', [metadata.region, data.user.id])"), "eu-u_7");
        assert_eq!(key("data.user.n"), "42");
        assert_eq!(key("data.user.f"), "1.5");
        assert_eq!(key("data.user.ok"), "true");
        assert_eq!(key("data.user.tags"), "[\"a\"]");
    }

    #[test]
    fn nothing_useful_falls_back_to_the_event_id() {
        let d = doc();
        assert_eq!(evaluate(None, &d, "evt_1"), "evt_1");
        assert_eq!(evaluate(Some(""), &d, "evt_1"), "evt_1");
        assert_eq!(evaluate(Some("data.missing"), &d, "evt_1"), "evt_1");
        assert_eq!(evaluate(Some("data.empty"), &d, "evt_1"), "evt_1");
        // Fails at evaluation (a function applied to the wrong type).
        assert_eq!(evaluate(Some("length(data.user.n)"), &d, "evt_1"), "evt_1");
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(check("data.user.id").is_ok());
        assert!(check("metadata.\"event-id\"").is_ok());
        let err = check("data.[").unwrap_err();
        assert!(
            err.to_string().starts_with("is not a valid JMESPath"),
            "{err}"
        );
        assert!(check("join(").is_err());
    }

    #[test]
    fn numbers_print_as_go_prints_them() {
        for (f, want) in [
            (42.0, "42"),
            (-7.0, "-7"),
            (0.0, "0"),
            (1.5, "1.5"),
            (0.001, "0.001"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000015, "1.5e-05"),
            (123456.0, "123456"),
            (999999.0, "999999"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123.456, "123.456"),
        ] {
            assert_eq!(go_g(f), want, "{f}");
        }
    }
}
