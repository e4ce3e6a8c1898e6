//! Destination payload filters.
//!
//! A destination may carry a filter written in Hookdeck Outpost's filter
//! language. [`Filter::parse`] validates it once, when the destination is
//! saved, and compiles it to a PostgreSQL SQL/JSON path *predicate*, which the
//! fan-out trigger evaluates as `jsonb_path_match(envelope, compiled_path)`
//! with the envelope `{"id", "topic", "time", "metadata", "data"}` (`time` is
//! the timestamptz rendered as a JSON string). [`Filter::matches`] is the
//! reference evaluator: it defines the semantics, and the compiled path must
//! agree with it on every input (the cases in `tests/it/filter_cases.txt` are
//! checked with both, the path against a real PostgreSQL 15).
//!
//! # Semantics
//!
//! A filter is an object whose keys are envelope fields (`id`, `topic`,
//! `time`, `metadata`, `data`; anything else is rejected, it could never
//! match) or `$or`/`$and`/`$not`. `{}` and JSON `null` match every event.
//! Below, *V* is the event value at the filter's position; it may be missing.
//!
//! Plain (operator-free) parts are containment checks:
//! - scalar `s` (string, number, boolean, null): V equals `s`, or V is an
//!   array with an element equal to `s`. Equality never crosses types,
//!   numbers compare numerically (`1 == 1.0`), and `null` matches an explicit
//!   null only, never a missing field.
//! - object: V is an object having every listed key, each matching its
//!   sub-filter (other keys are ignored, so `{}` matches any object); or V is
//!   an array and SOME element is such an object.
//! - array: V is an array and every filter element matches some element of
//!   V *without further unwrapping*: a scalar needs an equal element, an
//!   object an object element, a nested array an array element matching it
//!   recursively. `[]` matches any array.
//!
//! An object whose keys all start with `$` is an operator object; all its
//! operators apply to V itself and must all hold. Value operators can't share
//! an object with field names (rejected: `{"$gt": 1, "a": 2}` is almost
//! certainly a mistake). `$or`/`$and`/`$not` can; they then apply to the same
//! object (or array element) the field names are matched against. Unknown
//! `$`-keys are rejected, so event keys starting with `$` can't be filtered.
//!
//! Operators look at V as a whole; only `$in`/`$nin` look inside arrays:
//! - `$eq`/`$neq` (any JSON value): deep equality (numbers numerically,
//!   object key order ignored) and its negation. A missing V is "not equal".
//! - `$gt` `$gte` `$lt` `$lte` (number or string): V must have the operand's
//!   type; strings compare by code point, which orders ISO-8601 timestamps
//!   correctly when both use the same format. Any other V: no match. Under
//!   `time`, UTC timestamp literals (`2025-01-01T00:00:00Z`) are first
//!   rewritten to the envelope's `…:00.000000Z` form; other strings (such as
//!   a bare date `2025-01-01`) are compared as written.
//! - `$in`: with an array of scalars, V equals one of them, or V is an array
//!   with an element equal to one of them (`[]` never matches). With a string,
//!   V is a string containing it, or an array with an element equal to it.
//!   With another scalar, V is an array containing it.
//! - `$nin`: the negation of `$in`, so a missing V matches.
//! - `$startsWith`/`$endsWith` (a string, or an array of strings meaning
//!   "any of"): V is a string with that prefix/suffix.
//! - `$exist` (boolean): V is present (even as `null`) / absent.
//! - `$or`/`$and` (non-empty array of filters) and `$not` (a filter) are
//!   evaluated against the same V; at the top level, against the event.
//!   `$not` is plain negation, so `{"x": {"$not": …}}` matches a missing `x`.
//!
//! Where this differs from Outpost's reference implementation
//! (`simplejsonmatch`): there, any condition on a missing field fails except
//! `$exist: false` (so `$neq`/`$nin`/`$not` don't match a missing field); an
//! array-valued V fails `$in` with an array operand; scalars and objects
//! unwrap nested arrays at any depth (here: one level); unknown `$`-keys are
//! field names; a value operator beside field names silently wins; a
//! top-level key that isn't an envelope field simply never matches (here it
//! is rejected, as is a value operator applied to the whole event).
//!
//! Limits: PostgreSQL compares numbers as exact decimals, the reference
//! evaluator compares integers exactly but anything with a fraction or
//! exponent as `f64`, so they can only disagree on numbers that differ beyond
//! `f64` precision. String ordering is byte order, which is what jsonpath
//! uses in a UTF-8 (or SQL_ASCII) database, whatever the collation.
//!
//! # Compilation
//!
//! The path runs in lax mode, whose implicit array unwrapping and "unknown"
//! results (e.g. comparing a string with a number) would otherwise leak into
//! the semantics. So every fragment is a *definite* predicate: comparisons
//! are guarded by `.type()` checks (which never unwrap) and combined with a
//! short-circuiting `&&`, and element iteration is an explicit
//! `exists(P ? (…))`, which unwraps exactly one array level. Negation (`!`)
//! is therefore always safe, and the result is never NULL. Keys and strings
//! are always emitted as escaped, double-quoted jsonpath literals;
//! `$endsWith` uses `like_regex` with every ASCII punctuation character
//! backslash-escaped, and substring `$in` uses `like_regex … flag "q"`
//! (literal).

mod ast;
mod compile;
mod eval;

use serde_json::{Map, Value};

use ast::{Cmp, Membership, Node, Object, Op};

/// Maximum nesting of filter nodes (and `$eq` operands); keeps recursion and
/// the compiled path bounded.
const MAX_DEPTH: usize = 32;
const EVENT_FIELDS: [&str; 5] = ["id", "topic", "time", "metadata", "data"];
const VALUE_OPERATORS: [&str; 11] = [
    "$eq",
    "$neq",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$startsWith",
    "$endsWith",
    "$exist",
];
const LOGICAL_OPERATORS: [&str; 3] = ["$or", "$and", "$not"];

/// A validated destination filter and its compiled jsonpath predicate.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    json: Value,
    root: Option<Object>,
    jsonpath: Option<String>,
}

/// Why a filter was rejected; every message starts with the path of the bad
/// part, e.g. `filter.data.age`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("{path}: expected an object, got {got}")]
    NotAnObject { path: String, got: &'static str },
    #[error(
        "{path}: unknown event field \"{field}\" (expected id, topic, time, metadata or data)"
    )]
    UnknownEventField { path: String, field: String },
    #[error("{path}: unknown operator \"{op}\"")]
    UnknownOperator { path: String, op: String },
    #[error("{path}: operator \"{op}\" must be applied to a field (e.g. data.amount), not to the whole event")]
    OperatorOnEvent { path: String, op: String },
    #[error("{path}: cannot mix operator \"{op}\" with field name \"{field}\" in one object")]
    MixedOperatorAndField {
        path: String,
        op: String,
        field: String,
    },
    #[error("{path}: {op} expects {expected}, got {got}")]
    InvalidOperand {
        path: String,
        op: String,
        expected: &'static str,
        got: String,
    },
    #[error("{path}: strings cannot contain the NUL character (PostgreSQL cannot store it)")]
    NulCharacter { path: String },
    #[error("{path}: filter is nested more than {limit} levels deep")]
    TooDeep { path: String, limit: usize },
}

impl Filter {
    /// Parses and validates; `{}` (and JSON null) means "match everything" and compiles to None.
    pub fn parse(value: &Value) -> Result<Filter, FilterError> {
        let root = match value {
            Value::Null => None,
            Value::Object(map) if map.is_empty() => None,
            other => Some(parse_root(other, "filter", 0)?),
        };
        let jsonpath = root.as_ref().map(|root| root.compile("$"));
        Ok(Filter {
            json: value.clone(),
            root,
            jsonpath,
        })
    }

    /// The filter as given.
    pub fn as_json(&self) -> &Value {
        &self.json
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Predicate for `jsonb_path_match(envelope, path)`; None when empty.
    pub fn jsonpath(&self) -> Option<&str> {
        self.jsonpath.as_deref()
    }

    /// Reference semantics (see the module docs).
    pub fn matches(&self, envelope: &Value) -> bool {
        self.root.as_ref().is_none_or(|root| root.matches(envelope))
    }
}

// ---------------------------------------------------------------------------
// Parsing

fn parse_root(value: &Value, path: &str, depth: usize) -> Result<Object, FilterError> {
    check_depth(path, depth)?;
    let Value::Object(map) = value else {
        return Err(FilterError::NotAnObject {
            path: path.to_owned(),
            got: describe(value),
        });
    };
    let mut object = Object::default();
    for (key, sub) in map {
        if LOGICAL_OPERATORS.contains(&key.as_str()) {
            object.logic.push(parse_logic(key, sub, path, depth, true)?);
        } else if VALUE_OPERATORS.contains(&key.as_str()) {
            return Err(FilterError::OperatorOnEvent {
                path: path.to_owned(),
                op: key.clone(),
            });
        } else if key.starts_with('$') {
            return Err(FilterError::UnknownOperator {
                path: path.to_owned(),
                op: key.clone(),
            });
        } else if EVENT_FIELDS.contains(&key.as_str()) {
            let mut node = parse_value(sub, &key_path(path, key), depth + 1)?;
            if key == "time" {
                node.canonicalize_times();
            }
            object.fields.push((key.clone(), node));
        } else {
            return Err(FilterError::UnknownEventField {
                path: path.to_owned(),
                field: key.clone(),
            });
        }
    }
    Ok(object)
}

fn parse_value(value: &Value, path: &str, depth: usize) -> Result<Node, FilterError> {
    check_depth(path, depth)?;
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_value(item, &format!("{path}[{i}]"), depth + 1))
            .collect::<Result<_, _>>()
            .map(Node::Array),
        Value::Object(map) => parse_object(map, path, depth),
        scalar => {
            check_json(scalar, path, depth)?;
            Ok(Node::Scalar(scalar.clone()))
        }
    }
}

fn parse_object(map: &Map<String, Value>, path: &str, depth: usize) -> Result<Node, FilterError> {
    let is_operator = |key: &&String| key.starts_with('$');
    if let Some(op) = map
        .keys()
        .find(|key| is_operator(key) && !is_known_operator(key))
    {
        return Err(FilterError::UnknownOperator {
            path: path.to_owned(),
            op: op.clone(),
        });
    }
    let value_op = map
        .keys()
        .find(|key| VALUE_OPERATORS.contains(&key.as_str()));
    if let (Some(op), Some(field)) = (value_op, map.keys().find(|key| !is_operator(key))) {
        return Err(FilterError::MixedOperatorAndField {
            path: path.to_owned(),
            op: op.clone(),
            field: field.clone(),
        });
    }
    let mut fields = Vec::new();
    let mut ops = Vec::new();
    for (key, sub) in map {
        if LOGICAL_OPERATORS.contains(&key.as_str()) {
            ops.push(parse_logic(key, sub, path, depth, false)?);
        } else if key.starts_with('$') {
            ops.push(parse_operator(key, sub, path, depth)?);
        } else {
            let sub_path = key_path(path, key);
            if key.contains('\0') {
                return Err(FilterError::NulCharacter { path: sub_path });
            }
            fields.push((key.clone(), parse_value(sub, &sub_path, depth + 1)?));
        }
    }
    Ok(if fields.is_empty() && !ops.is_empty() {
        Node::Ops(ops)
    } else {
        Node::Object(Object { fields, logic: ops })
    })
}

/// `$or`/`$and`/`$not`; at the top level (`root`) their operands are top-level filters.
fn parse_logic(
    op: &str,
    operand: &Value,
    path: &str,
    depth: usize,
    root: bool,
) -> Result<Op, FilterError> {
    let parse_item = |value: &Value, item_path: &str| {
        if root {
            parse_root(value, item_path, depth + 1).map(Node::Object)
        } else {
            parse_value(value, item_path, depth + 1)
        }
    };
    if op == "$not" {
        return Ok(Op::Not(Box::new(parse_item(
            operand,
            &format!("{path}.$not"),
        )?)));
    }
    let items = match operand {
        Value::Array(items) if !items.is_empty() => items,
        _ => return Err(invalid(path, op, "a non-empty array of filters", operand)),
    };
    let nodes = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_item(item, &format!("{path}.{op}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if op == "$or" {
        Op::Or(nodes)
    } else {
        Op::And(nodes)
    })
}

fn parse_operator(op: &str, operand: &Value, path: &str, depth: usize) -> Result<Op, FilterError> {
    let cmp = |cmp: Cmp| match operand {
        Value::Number(_) | Value::String(_) => {
            check_json(operand, path, depth)?;
            Ok(Op::Cmp(cmp, operand.clone()))
        }
        _ => Err(invalid(
            path,
            op,
            "a number, string or date string",
            operand,
        )),
    };
    match op {
        "$eq" | "$neq" => {
            check_json(operand, path, depth)?;
            let value = operand.clone();
            Ok(if op == "$eq" {
                Op::Eq(value)
            } else {
                Op::Neq(value)
            })
        }
        "$gt" => cmp(Cmp::Gt),
        "$gte" => cmp(Cmp::Gte),
        "$lt" => cmp(Cmp::Lt),
        "$lte" => cmp(Cmp::Lte),
        "$in" | "$nin" => {
            const EXPECTED: &str =
                "an array of strings, numbers, booleans or nulls, or one such value";
            let membership = match operand {
                Value::Object(_) => return Err(invalid(path, op, EXPECTED, operand)),
                Value::Array(items) => {
                    if let Some(bad) = items
                        .iter()
                        .find(|item| item.is_array() || item.is_object())
                    {
                        let got = format!("an array containing {}", describe(bad));
                        return Err(FilterError::InvalidOperand {
                            path: path.to_owned(),
                            op: op.to_owned(),
                            expected: EXPECTED,
                            got,
                        });
                    }
                    check_json(operand, path, depth)?;
                    Membership::AnyOf(items.clone())
                }
                scalar => {
                    check_json(scalar, path, depth)?;
                    Membership::Contains(scalar.clone())
                }
            };
            Ok(if op == "$in" {
                Op::In(membership)
            } else {
                Op::Nin(membership)
            })
        }
        "$startsWith" | "$endsWith" => {
            let strings = match operand {
                Value::String(s) => Some(vec![s.clone()]),
                Value::Array(items) => items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect(),
                _ => None,
            };
            let Some(strings) = strings else {
                return Err(invalid(
                    path,
                    op,
                    "a string or an array of strings",
                    operand,
                ));
            };
            check_json(operand, path, depth)?;
            Ok(if op == "$startsWith" {
                Op::StartsWith(strings)
            } else {
                Op::EndsWith(strings)
            })
        }
        "$exist" => match operand {
            Value::Bool(b) => Ok(Op::Exist(*b)),
            _ => Err(invalid(path, op, "true or false", operand)),
        },
        _ => Err(FilterError::UnknownOperator {
            path: path.to_owned(),
            op: op.to_owned(),
        }),
    }
}

impl Node {
    fn canonicalize_times(&mut self) {
        match self {
            Node::Scalar(value) => canonicalize_time(value),
            Node::Ops(ops) => ops.iter_mut().for_each(Op::canonicalize_times),
            // `time` is a string: objects and arrays never match it anyway.
            Node::Object(_) | Node::Array(_) => {}
        }
    }
}

impl Op {
    fn canonicalize_times(&mut self) {
        match self {
            Op::Eq(value) | Op::Neq(value) | Op::Cmp(_, value) => canonicalize_time(value),
            Op::In(Membership::AnyOf(values)) | Op::Nin(Membership::AnyOf(values)) => {
                values.iter_mut().for_each(canonicalize_time)
            }
            Op::Not(node) => node.canonicalize_times(),
            Op::Or(nodes) | Op::And(nodes) => nodes.iter_mut().for_each(Node::canonicalize_times),
            _ => {}
        }
    }
}

fn canonicalize_time(value: &mut Value) {
    if let Value::String(s) = value {
        if let Some(canonical) = canonical_time(s) {
            *s = canonical;
        }
    }
}

/// The envelope renders `time` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (see
/// `outbound.envelope`), and comparisons are by string, where `…:00Z` sorts
/// *after* `…:00.000001Z`. So UTC timestamps under `time` written with fewer
/// fraction digits (`…:00Z`, `…:00.5Z`, `…:00+00:00`) are rewritten to that
/// form. Anything else (dates, other offsets, >6 fraction digits) is kept.
fn canonical_time(s: &str) -> Option<String> {
    let (seconds, rest) = (s.get(..19)?, s.get(19..)?);
    let shaped = seconds.bytes().enumerate().all(|(i, c)| match i {
        4 | 7 => c == b'-',
        10 => c == b'T',
        13 | 16 => c == b':',
        _ => c.is_ascii_digit(),
    });
    let rest = rest
        .strip_suffix('Z')
        .or_else(|| rest.strip_suffix("+00:00"))?;
    let fraction = match rest.strip_prefix('.') {
        Some(f) if !f.is_empty() && f.len() <= 6 && f.bytes().all(|c| c.is_ascii_digit()) => f,
        None if rest.is_empty() => "",
        _ => return None,
    };
    shaped.then(|| format!("{seconds}.{fraction:0<6}Z"))
}

fn is_known_operator(key: &str) -> bool {
    VALUE_OPERATORS.contains(&key) || LOGICAL_OPERATORS.contains(&key)
}

fn invalid(path: &str, op: &str, expected: &'static str, got: &Value) -> FilterError {
    FilterError::InvalidOperand {
        path: path.to_owned(),
        op: op.to_owned(),
        expected,
        got: describe(got).to_owned(),
    }
}

fn check_depth(path: &str, depth: usize) -> Result<(), FilterError> {
    if depth > MAX_DEPTH {
        return Err(FilterError::TooDeep {
            path: path.to_owned(),
            limit: MAX_DEPTH,
        });
    }
    Ok(())
}

/// Literal operands: bounded depth, and no NUL anywhere (jsonb can't hold it,
/// and the compiled path would fail to parse).
fn check_json(value: &Value, path: &str, depth: usize) -> Result<(), FilterError> {
    check_depth(path, depth)?;
    match value {
        Value::String(s) if s.contains('\0') => Err(FilterError::NulCharacter {
            path: path.to_owned(),
        }),
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| check_json(item, path, depth + 1)),
        Value::Object(map) => map.iter().try_for_each(|(key, item)| {
            if key.contains('\0') {
                return Err(FilterError::NulCharacter {
                    path: path.to_owned(),
                });
            }
            check_json(item, path, depth + 1)
        }),
        _ => Ok(()),
    }
}

/// `filter.data.x` for plain keys, `filter.data["a.b"]` otherwise.
fn key_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{parent}.{key}")
    } else {
        let quoted = Value::String(key.to_owned());
        format!("{parent}[{quoted}]")
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(super) fn filter(value: Value) -> Filter {
        match Filter::parse(&value) {
            Ok(f) => f,
            Err(e) => panic!("{value} should parse: {e}"),
        }
    }

    fn error(value: Value) -> String {
        match Filter::parse(&value) {
            Ok(f) => panic!("{value} should be rejected, compiled to {:?}", f.jsonpath()),
            Err(e) => e.to_string(),
        }
    }

    pub(super) fn data(data: Value) -> Value {
        json!({"id": "e", "topic": "t", "time": "2025-01-15T10:30:00.000000Z", "metadata": {}, "data": data})
    }

    #[test]
    fn empty_filters_match_everything() {
        for value in [json!({}), Value::Null] {
            let f = filter(value.clone());
            assert!(f.is_empty());
            assert_eq!(f.jsonpath(), None);
            assert_eq!(f.as_json(), &value);
            assert!(f.matches(&data(json!(1))));
        }
    }

    #[test]
    fn errors_name_the_bad_part() {
        let cases = [
            (json!("x"), "filter: expected an object, got a string"),
            (json!({"data": {"age": {"$gt": {}}}}), "filter.data.age: $gt expects a number, string or date string, got an object"),
            (json!({"data": {"$foo": 1}}), "filter.data: unknown operator \"$foo\""),
            (json!({"$foo": 1}), "filter: unknown operator \"$foo\""),
            (json!({"status": "paid"}), "filter: unknown event field \"status\" (expected id, topic, time, metadata or data)"),
            (json!({"$gt": 1}), "filter: operator \"$gt\" must be applied to a field (e.g. data.amount), not to the whole event"),
            (json!({"data": {"a": 1, "$eq": 2}}), "filter.data: cannot mix operator \"$eq\" with field name \"a\" in one object"),
            (json!({"$or": []}), "filter: $or expects a non-empty array of filters, got an array"),
            (json!({"data": {"x": {"$and": {}}}}), "filter.data.x: $and expects a non-empty array of filters, got an object"),
            (json!({"$or": [{"data": 1}, "x"]}), "filter.$or[1]: expected an object, got a string"),
            (json!({"$not": {"data": {"x": {"$in": [1, [2]]}}}}), "filter.$not.data.x: $in expects an array of strings, numbers, booleans or nulls, or one such value, got an array containing an array"),
            (json!({"data": {"x": {"$nin": {}}}}), "filter.data.x: $nin expects an array of strings, numbers, booleans or nulls, or one such value, got an object"),
            (json!({"data": {"x": {"$exist": "yes"}}}), "filter.data.x: $exist expects true or false, got a string"),
            (json!({"data": {"x": {"$endsWith": ["a", 1]}}}), "filter.data.x: $endsWith expects a string or an array of strings, got an array"),
            (json!({"data": {"a.b": [{"$lt": null}]}}), "filter.data[\"a.b\"][0]: $lt expects a number, string or date string, got null"),
            (json!({"data": {"x": "a\u{0}"}}), "filter.data.x: strings cannot contain the NUL character (PostgreSQL cannot store it)"),
            (json!({"data": {"a\u{0}": 1}}), "filter.data[\"a\\u0000\"]: strings cannot contain the NUL character (PostgreSQL cannot store it)"),
            (json!({"data": {"x": {"$eq": {"k": ["\u{0}"]}}}}), "filter.data.x: strings cannot contain the NUL character (PostgreSQL cannot store it)"),
        ];
        for (value, message) in cases {
            assert_eq!(error(value), message);
        }
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!({ "a": deep });
        }
        assert!(error(json!({ "data": deep })).contains("nested more than 32 levels deep"));
    }

    #[test]
    fn time_literals_are_canonicalized() {
        assert_eq!(
            canonical_time("2025-01-01T00:00:00Z").as_deref(),
            Some("2025-01-01T00:00:00.000000Z")
        );
        assert_eq!(
            canonical_time("2025-01-01T00:00:00.5+00:00").as_deref(),
            Some("2025-01-01T00:00:00.500000Z")
        );
        assert_eq!(
            canonical_time("2025-01-01T00:00:00.123456Z").as_deref(),
            Some("2025-01-01T00:00:00.123456Z")
        );
        for kept in [
            "2025-01-01",
            "2025-01-01T00:00:00+02:00",
            "2025-01-01T00:00:00.1234567Z",
            "2025-01-01T00:00:00.Z",
            "2025-01-01 00:00:00Z",
            "ééééééééééééééééééééé",
        ] {
            assert_eq!(canonical_time(kept), None, "{kept}");
        }
        // Only under `time`: data strings are compared as written.
        let f = filter(json!({"data": {"at": {"$gte": "2025-01-01T00:00:00Z"}}}));
        assert!(!f.matches(&data(json!({"at": "2025-01-01T00:00:00.000000Z"}))));
        let f = filter(json!({"time": {"$not": {"$lt": "2025-01-15T10:30:00Z"}}}));
        assert!(f.matches(&data(json!(null))));
        assert_eq!(
            f.as_json(),
            &json!({"time": {"$not": {"$lt": "2025-01-15T10:30:00Z"}}})
        );
    }
}
