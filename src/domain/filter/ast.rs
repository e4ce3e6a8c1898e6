//! The syntax tree a filter is parsed into. Parsing only builds trees that
//! passed validation, so the evaluator and the compiler walk them without
//! error cases of their own.

use serde_json::Value;

/// One part of a filter, matched against the event value *V* at its
/// position (the filter module's docs say what each kind means).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    /// String, number, boolean or null.
    Scalar(Value),
    /// Has at least one field name (or is `{}`, or is the top level).
    Object(Object),
    Array(Vec<Node>),
    /// Only operators; all apply to V itself.
    Ops(Vec<Op>),
}

/// Field names each matched against V's member of that name, plus logical
/// operators that sit beside them.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Object {
    pub(super) fields: Vec<(String, Node)>,
    /// `$or`/`$and`/`$not`, applied to the object itself.
    pub(super) logic: Vec<Op>,
}

/// One `$`-operator with its validated operand.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Op {
    Eq(Value),
    Neq(Value),
    /// Operand is a number or a string.
    Cmp(Cmp, Value),
    In(Membership),
    Nin(Membership),
    StartsWith(Vec<String>),
    EndsWith(Vec<String>),
    Exist(bool),
    Not(Box<Node>),
    Or(Vec<Node>),
    And(Vec<Node>),
}

/// `$gt`, `$gte`, `$lt`, `$lte`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// The operand of `$in`/`$nin`; the two forms mean different things.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Membership {
    /// `$in: [scalars]`.
    AnyOf(Vec<Value>),
    /// `$in: scalar`.
    Contains(Value),
}
