//! The reference evaluator: it defines the filter semantics described in
//! the filter module's docs, and the compiled jsonpath must agree with it.
//!
//! `unwrap` says whether a plain scalar/object may match an element of an
//! array-valued V (false inside array filters).

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::ast::{Cmp, Membership, Node, Object, Op};

impl Object {
    /// Whether `value` (the envelope, at the top level) matches this object.
    pub(super) fn matches(&self, value: &Value) -> bool {
        let Value::Object(map) = value else {
            return false;
        };
        self.fields
            .iter()
            .all(|(key, node)| node.eval(map.get(key), true))
            && self.logic.iter().all(|op| op.eval(Some(value), false))
    }
}

impl Node {
    fn eval(&self, value: Option<&Value>, unwrap: bool) -> bool {
        let Some(value) = value else {
            // Only operators ($exist, negations) can match a missing value.
            return match self {
                Node::Ops(ops) => ops.iter().all(|op| op.eval(None, unwrap)),
                _ => false,
            };
        };
        match (self, value) {
            (Node::Scalar(s), Value::Array(items)) if unwrap => {
                items.iter().any(|item| scalar_eq(item, s))
            }
            (Node::Scalar(s), _) => scalar_eq(value, s),
            (Node::Object(o), Value::Array(items)) if unwrap => {
                items.iter().any(|item| o.matches(item))
            }
            (Node::Object(o), _) => o.matches(value),
            (Node::Array(filters), Value::Array(items)) => filters
                .iter()
                .all(|filter| items.iter().any(|item| filter.eval(Some(item), false))),
            (Node::Array(_), _) => false,
            (Node::Ops(ops), _) => ops.iter().all(|op| op.eval(Some(value), unwrap)),
        }
    }
}

impl Op {
    fn eval(&self, value: Option<&Value>, unwrap: bool) -> bool {
        match self {
            Op::Eq(x) => value.is_some_and(|v| deep_eq(v, x)),
            Op::Neq(x) => !value.is_some_and(|v| deep_eq(v, x)),
            Op::Cmp(cmp, x) => {
                value.is_some_and(|v| compare(v, x).is_some_and(|ord| cmp.holds(ord)))
            }
            Op::In(m) => value.is_some_and(|v| m.contains(v)),
            Op::Nin(m) => !value.is_some_and(|v| m.contains(v)),
            Op::StartsWith(prefixes) => value
                .and_then(Value::as_str)
                .is_some_and(|s| prefixes.iter().any(|p| s.starts_with(p.as_str()))),
            Op::EndsWith(suffixes) => value
                .and_then(Value::as_str)
                .is_some_and(|s| suffixes.iter().any(|p| s.ends_with(p.as_str()))),
            Op::Exist(present) => value.is_some() == *present,
            Op::Not(node) => !node.eval(value, unwrap),
            Op::Or(nodes) => nodes.iter().any(|node| node.eval(value, unwrap)),
            Op::And(nodes) => nodes.iter().all(|node| node.eval(value, unwrap)),
        }
    }
}

impl Membership {
    fn contains(&self, value: &Value) -> bool {
        match (self, value) {
            (Membership::AnyOf(options), Value::Array(items)) => items
                .iter()
                .any(|item| options.iter().any(|o| scalar_eq(item, o))),
            (Membership::AnyOf(options), _) => options.iter().any(|o| scalar_eq(value, o)),
            (Membership::Contains(Value::String(needle)), Value::String(s)) => {
                s.contains(needle.as_str())
            }
            (Membership::Contains(x), Value::Array(items)) => {
                items.iter().any(|item| scalar_eq(item, x))
            }
            (Membership::Contains(_), _) => false,
        }
    }
}

impl Cmp {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            Cmp::Gt => ord == Ordering::Greater,
            Cmp::Gte => ord != Ordering::Less,
            Cmp::Lt => ord == Ordering::Less,
            Cmp::Lte => ord != Ordering::Greater,
        }
    }
}

/// Equality of two scalars of the same JSON type (never an array/object).
fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y) == Some(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x == y,
        _ => false,
    }
}

fn deep_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| deep_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, p)| y.get(key).is_some_and(|q| deep_eq(p, q)))
        }
        _ => scalar_eq(a, b),
    }
}

/// Ordering for `$gt` & co: numbers with numbers, strings with strings (by
/// UTF-8 bytes = code points, like PostgreSQL's jsonpath in a UTF-8 database).
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

/// Integers compare exactly; anything involving a float compares as f64
/// (PostgreSQL compares exact decimals; see the caveat in the module docs).
fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::domain::filter::tests::{data, filter};

    #[test]
    fn the_roles_example() {
        let f = filter(json!({"data": {"roles": ["reviewer"]}}));
        assert!(f.matches(&data(json!({"roles": ["admin", "reviewer"]}))));
        assert!(!f.matches(&data(json!({"roles": ["admin"]}))));
        let f = filter(json!({"data": {"roles": "reviewer"}}));
        assert!(f.matches(&data(json!({"roles": ["admin", "reviewer"]}))));
        assert!(f.matches(&data(json!({"roles": "reviewer"}))));
    }

    #[test]
    fn operators() {
        let m = |f: Value, d: Value| {
            filter(json!({ "data": { "v": f } })).matches(&data(json!({ "v": d })))
        };
        let missing = |f: Value| filter(json!({ "data": { "v": f } })).matches(&data(json!({})));
        assert!(m(
            json!({"$eq": [1, {"a": null}]}),
            json!([1.0, {"a": null}])
        ));
        assert!(!m(json!({"$eq": [1, {"a": null}]}), json!([1, {}])));
        assert!(m(json!({"$neq": 1}), json!([1])));
        assert!(missing(json!({"$neq": 1})));
        assert!(m(
            json!({"$gt": "2025-01-01"}),
            json!("2025-01-01T00:00:00Z")
        ));
        assert!(!m(json!({"$gt": 1}), json!(true)));
        assert!(m(json!({"$lte": 1}), json!(1.0)));
        assert!(m(
            json!({"$lt": 9007199254740993u64}),
            json!(9007199254740992u64)
        ));
        assert!(m(json!({"$in": [true]}), json!([false, true])));
        assert!(m(json!({"$in": "b"}), json!("abc")));
        assert!(!missing(json!({"$in": ["b"]})));
        assert!(missing(json!({"$nin": ["b"]})));
        assert!(m(json!({"$startsWith": ["x", "a"]}), json!("abc")));
        assert!(m(json!({"$endsWith": "c"}), json!("abc")));
        assert!(!m(json!({"$endsWith": "c"}), json!(["abc"])));
        assert!(m(json!({"$exist": true}), json!(null)));
        assert!(missing(json!({"$exist": false})));
        assert!(missing(json!({"$not": 1})));
        assert!(m(json!({"$and": [{"$gt": 1}, {"$lt": 3}]}), json!(2)));
        assert!(!m(json!({"$or": [{"$gt": 5}, {"$lt": 1}]}), json!(2)));
    }
}
