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
//!
//! # Layout
//!
//! [`Filter`] and [`FilterError`] are the whole public surface. `parse`
//! validates filter JSON into the tree defined in `ast`, `eval` is the
//! reference evaluator behind [`Filter::matches`], and `compile` writes the
//! jsonpath predicate behind [`Filter::jsonpath`].

mod ast;
mod compile;
mod eval;
mod parse;

use serde_json::Value;

use ast::Object;
use parse::parse_root;

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

    /// Whether the filter matches every event (it was `{}` or null).
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // `filter` and `data` are shared with the tests in the submodules.

    pub(super) fn filter(value: Value) -> Filter {
        match Filter::parse(&value) {
            Ok(f) => f,
            Err(e) => panic!("{value} should parse: {e}"),
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
}
