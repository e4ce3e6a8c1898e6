//! Compilation to a PostgreSQL SQL/JSON path predicate; the module docs of
//! the filter module explain the guards and why lax mode needs them.
//!
//! `p` is a path expression yielding the value V (or nothing when it's
//! missing); it is only ever used at the filter nesting level where it was
//! built, and inside every new `? (…)` the current item is `@`. Every
//! fragment returned is a definite true/false.

use serde_json::Value;

use super::ast::{Cmp, Membership, Node, Object, Op};

/// Constant predicates (jsonpath has no boolean predicate literals).
const FALSE: &str = "(1 == 0)";
const TRUE: &str = "(0 == 0)";

impl Object {
    /// The predicate for this object at path `p` (`$` for the whole envelope).
    pub(super) fn compile(&self, p: &str) -> String {
        let mut parts = vec![format!("{p}.type() == \"object\"")];
        for (key, node) in &self.fields {
            let child = format!("{p}.{}", quote(key));
            parts.push(node.compile(&child, true));
        }
        parts.extend(self.logic.iter().map(|op| op.compile(p, false)));
        all(parts)
    }
}

impl Node {
    fn compile(&self, p: &str, unwrap: bool) -> String {
        match self {
            // `p ? (…)` visits V itself, or each element when V is an array.
            Node::Scalar(s) if unwrap => filter(p, scalar_eq_path(s, "@")),
            Node::Scalar(s) => scalar_eq_path(s, p),
            Node::Object(o) if unwrap => filter(p, o.compile("@")),
            Node::Object(o) => o.compile(p),
            Node::Array(filters) => {
                let mut parts = vec![format!("{p}.type() == \"array\"")];
                for element in filters {
                    // Elements reach `@` as they are: nested arrays are not unwrapped again.
                    parts.push(filter(p, element.compile("@", false)));
                }
                all(parts)
            }
            Node::Ops(ops) => all(ops.iter().map(|op| op.compile(p, unwrap)).collect()),
        }
    }
}

impl Op {
    fn compile(&self, p: &str, unwrap: bool) -> String {
        match self {
            Op::Eq(x) => deep_eq_path(x, p),
            Op::Neq(x) => format!("!{}", paren(deep_eq_path(x, p))),
            Op::Cmp(cmp, x) => {
                let (ty, op, lit) = (type_name(x), cmp.symbol(), literal(x));
                format!("({p}.type() == \"{ty}\" && {p} {op} {lit})")
            }
            Op::In(m) => m.compile(p),
            Op::Nin(m) => format!("!{}", paren(m.compile(p))),
            Op::StartsWith(prefixes) => {
                string_test(p, prefixes, |s| format!("starts with {}", quote(s)))
            }
            Op::EndsWith(suffixes) => string_test(p, suffixes, |s| {
                format!("like_regex {}", quote(&format!("{}$", regex_escape(s))))
            }),
            Op::Exist(true) => format!("exists({p})"),
            Op::Exist(false) => format!("!exists({p})"),
            Op::Not(node) => format!("!{}", paren(node.compile(p, unwrap))),
            Op::Or(nodes) => any(nodes.iter().map(|node| node.compile(p, unwrap)).collect()),
            Op::And(nodes) => all(nodes.iter().map(|node| node.compile(p, unwrap)).collect()),
        }
    }
}

impl Membership {
    fn compile(&self, p: &str) -> String {
        match self {
            Membership::AnyOf(options) if options.is_empty() => FALSE.to_owned(),
            Membership::AnyOf(options) => filter(
                p,
                any(options.iter().map(|o| scalar_eq_path(o, "@")).collect()),
            ),
            Membership::Contains(x) => {
                let elements = filter(p, scalar_eq_path(x, "@"));
                let in_array = format!("({p}.type() == \"array\" && {elements})");
                match x {
                    Value::String(needle) => {
                        let needle = quote(needle);
                        format!("(({p}.type() == \"string\" && {p} like_regex {needle} flag \"q\") || {in_array})")
                    }
                    _ => in_array,
                }
            }
        }
    }
}

impl Cmp {
    fn symbol(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
        }
    }
}

/// `p` is a string passing `test` for one of `operands`.
fn string_test(p: &str, operands: &[String], test: impl Fn(&str) -> String) -> String {
    let alternatives = any(operands
        .iter()
        .map(|s| format!("{p} {}", test(s)))
        .collect());
    format!("({p}.type() == \"string\" && {alternatives})")
}

/// `p` is a scalar of `s`'s type equal to it; the type guard keeps `==` from
/// unwrapping arrays or yielding "unknown" across types.
fn scalar_eq_path(s: &Value, p: &str) -> String {
    match s {
        Value::Null => format!("{p}.type() == \"null\""),
        _ => {
            let (ty, lit) = (type_name(s), literal(s));
            format!("({p}.type() == \"{ty}\" && {p} == {lit})")
        }
    }
}

/// `p` deep-equals `x`, spelled out structurally (jsonpath's `==` only
/// compares scalars).
fn deep_eq_path(x: &Value, p: &str) -> String {
    match x {
        Value::Array(items) => {
            let len = items.len();
            let mut parts = vec![
                format!("{p}.type() == \"array\""),
                format!("{p}.size() == {len}"),
            ];
            parts.extend(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| deep_eq_path(item, &format!("{p}[{i}]"))),
            );
            all(parts)
        }
        Value::Object(map) => {
            let keys = any(map
                .keys()
                .map(|k| format!("@.\"key\" == {}", quote(k)))
                .collect());
            // No key outside the expected set, then every expected key equal.
            let mut parts = vec![
                format!("{p}.type() == \"object\""),
                format!(
                    "!{}",
                    filter(&format!("{p}.keyvalue()"), format!("!{}", paren(keys)))
                ),
            ];
            parts.extend(
                map.iter()
                    .map(|(key, item)| deep_eq_path(item, &format!("{p}.{}", quote(key)))),
            );
            all(parts)
        }
        scalar => scalar_eq_path(scalar, p),
    }
}

/// Whether `p`, or when it is an array one of its elements, satisfies
/// `predicate` (about `@`). Lax mode unwraps exactly one array level here.
fn filter(p: &str, predicate: String) -> String {
    let predicate = paren(predicate);
    format!("exists({p} ? {predicate})")
}

fn all(parts: Vec<String>) -> String {
    join(parts, " && ", TRUE)
}

fn any(parts: Vec<String>) -> String {
    join(parts, " || ", FALSE)
}

fn join(mut parts: Vec<String>, separator: &str, empty: &str) -> String {
    match parts.len() {
        0 => empty.to_owned(),
        1 => parts.pop().unwrap_or_default(),
        _ => format!("({})", parts.join(separator)),
    }
}

/// Wraps `predicate` in parentheses unless it is already one parenthesized group.
fn paren(predicate: String) -> String {
    if is_group(&predicate) {
        predicate
    } else {
        format!("({predicate})")
    }
}

/// Whether the `(` that opens `s` closes at its very end (skipping string literals).
fn is_group(s: &str) -> bool {
    if !s.starts_with('(') {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in s.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1 == s.len();
                }
            }
            _ => {}
        }
    }
    false
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A scalar as a jsonpath literal.
fn literal(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        // null/true/false and JSON numbers (incl. `1e-7`) are valid jsonpath literals.
        other => other.to_string(),
    }
}

/// A double-quoted jsonpath string literal. Quotes and backslashes are
/// escaped, control characters become `\uXXXX`, everything else (including
/// non-ASCII) is copied as UTF-8. NUL was rejected at parse time.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Makes `s` match literally in a PostgreSQL (ARE) regex: a backslash before
/// a non-alphanumeric character always means that character itself.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::filter::tests::filter;

    #[test]
    fn compiles_to_guarded_predicates() {
        let f = filter(json!({"data": {"age": {"$gte": 18}}}));
        assert_eq!(
            f.jsonpath(),
            Some(concat!(
                r#"($.type() == "object" && exists($."data" ? (@.type() == "object""#,
                r#" && (@."age".type() == "number" && @."age" >= 18))))"#
            ))
        );
        let f = filter(json!({"topic": "a"}));
        assert_eq!(
            f.jsonpath(),
            Some(
                r#"($.type() == "object" && exists($."topic" ? (@.type() == "string" && @ == "a")))"#
            )
        );
        assert!(is_group(r#"(a && (b) && "(")"#));
        assert!(!is_group(r#"(a) && (b)"#));
        assert!(!is_group(r#"(a == ")") && (b)"#));
        assert!(!is_group("exists(a)"));
    }

    #[test]
    fn strings_and_keys_are_escaped() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("\n\t\u{1}\u{7f}"), "\"\\u000a\\u0009\\u0001\\u007f\"");
        assert_eq!(quote("日本 🎉 $.x"), "\"日本 🎉 $.x\"");
        assert_eq!(regex_escape("a.b*c$(d)\\é"), "a\\.b\\*c\\$\\(d\\)\\\\é");
        let f = filter(json!({"data": {"k\") || exists($) || (\"": "v\" || true"}}));
        let path = f.jsonpath().unwrap_or_default();
        assert!(path.contains(r#"@."k\") || exists($) || (\"""#), "{path}");
        assert!(path.contains(r#"@ == "v\" || true""#), "{path}");
    }
}
