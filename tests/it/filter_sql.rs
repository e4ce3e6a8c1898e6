//! The filter's two evaluators agree with each other and with the expected
//! result on every case in `filter_cases.txt`: the reference evaluator
//! (`Filter::matches`), which defines the semantics, and the compiled
//! jsonpath predicate as PostgreSQL runs it in the fan-out.

use outbound::domain::filter::Filter;
use serde_json::{json, Value};

use crate::helpers::db::TestDb;

/// The case table; its header comment describes the line format.
const CASES: &str = include_str!("filter_cases.txt");

struct Case {
    /// 1-based line in `filter_cases.txt`, so a failure points at its case.
    line: usize,
    filter: Value,
    envelope: Value,
    expected: bool,
}

/// Every case in the table. A line that isn't a well-formed case fails the
/// test instead of being skipped, so a typo can't silently drop a case.
fn cases() -> Vec<Case> {
    CASES
        .lines()
        .enumerate()
        .map(|(i, text)| (i + 1, text.trim()))
        .filter(|(_, text)| !text.is_empty() && !text.starts_with("//"))
        .map(|(line, text)| parse_case(line, text))
        .collect()
}

fn parse_case(line: usize, text: &str) -> Case {
    let parts: Vec<Value> = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("filter_cases.txt:{line}: not a JSON array: {e}"));
    let (filter, data, expected, overrides) = match parts.as_slice() {
        [filter, data, Value::Bool(expected)] => (filter, data, *expected, None),
        [filter, data, Value::Bool(expected), Value::Object(overrides)] => {
            (filter, data, *expected, Some(overrides))
        }
        _ => panic!(
            "filter_cases.txt:{line}: expected [filter, data, true|false] \
             or [filter, data, true|false, {{envelope overrides}}]"
        ),
    };
    // The envelope as the fan-out trigger builds it (`time` rendered as text).
    let mut envelope = json!({
        "id": "evt_1",
        "topic": "order.created",
        "time": "2025-01-15T10:30:00.000000Z",
        "metadata": {"source": "api", "region": "eu-west-1"},
        "data": data,
    });
    if let (Some(overrides), Value::Object(target)) = (overrides, &mut envelope) {
        target.extend(overrides.clone());
    }
    Case {
        line,
        filter: filter.clone(),
        envelope,
        expected,
    }
}

#[tokio::test]
async fn sql_and_rust_agree_on_every_case() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let cases = cases();
    assert!(cases.len() >= 60, "a meaningful table of cases");
    // Every disagreement is collected, so one run shows the whole picture
    // when a change to the semantics touches several cases.
    let mut failures = Vec::new();
    for Case {
        line,
        filter: filter_json,
        envelope,
        expected,
    } in &cases
    {
        let filter = Filter::parse(filter_json)
            .unwrap_or_else(|e| panic!("filter_cases.txt:{line}: {filter_json}: {e}"));
        let in_rust = filter.matches(envelope);
        if in_rust != *expected {
            failures.push(format!(
                "filter_cases.txt:{line}: rust says {in_rust}: {filter_json} on {envelope}"
            ));
        }
        // An empty filter compiles to nothing and would leave SQL untested.
        let Some(path) = filter.jsonpath() else {
            panic!("filter_cases.txt:{line}: {filter_json} compiles to no predicate");
        };
        let in_sql: bool = c
            .query_one(
                "SELECT coalesce(jsonb_path_match($1::jsonb, $2::text::jsonpath, '{}', true), false)",
                &[envelope, &path],
            )
            .await
            .unwrap_or_else(|e| panic!("filter_cases.txt:{line}: {filter_json} compiled to {path}: {e}"))
            .get(0);
        if in_sql != *expected {
            failures.push(format!(
                "filter_cases.txt:{line}: sql says {in_sql}: {filter_json} as {path} on {envelope}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    println!("{} filter cases agree in rust and sql", cases.len());
}
