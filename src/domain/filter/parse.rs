//! Parsing and validation of filter JSON into the syntax tree, including the
//! rewriting of timestamp literals under `time`. Every rejection is a
//! [`FilterError`] naming the path of the bad part; whatever passes here can
//! be evaluated and compiled without further checks.

use serde_json::{Map, Value};

use super::ast::{Cmp, Membership, Node, Object, Op};
use super::FilterError;

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

/// A top-level filter (or a top-level `$or`/`$and`/`$not` operand): only
/// envelope fields and logical operators are allowed here.
pub(super) fn parse_root(value: &Value, path: &str, depth: usize) -> Result<Object, FilterError> {
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
    use serde_json::json;

    use super::*;
    use crate::domain::filter::tests::{data, filter};
    use crate::domain::filter::Filter;

    fn error(value: Value) -> String {
        match Filter::parse(&value) {
            Ok(f) => panic!("{value} should be rejected, compiled to {:?}", f.jsonpath()),
            Err(e) => e.to_string(),
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
