//! The filter's SQL evaluation agrees with its documented semantics.

use outbound::domain::filter::{agreement_cases, Filter};

use crate::helpers::db::TestDb;

#[tokio::test]
async fn sql_and_rust_agree_on_every_case() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let cases = agreement_cases();
    assert!(cases.len() >= 40, "a meaningful table of cases");
    for (filter_json, envelope, expected) in cases {
        let filter = Filter::parse(&filter_json).unwrap_or_else(|e| panic!("{filter_json}: {e}"));
        assert_eq!(
            filter.matches(&envelope),
            expected,
            "rust: {filter_json} on {envelope}"
        );
        let in_sql: bool = match filter.jsonpath() {
            None => true,
            Some(path) => c
                .query_one(
                    "SELECT coalesce(jsonb_path_match($1::jsonb, $2::text::jsonpath, '{}', true), false)",
                    &[&envelope, &path],
                )
                .await
                .unwrap_or_else(|e| panic!("{filter_json} compiled to {path}: {e}"))
                .get(0),
        };
        assert_eq!(
            in_sql,
            expected,
            "sql: {filter_json} as {:?} on {envelope}",
            filter.jsonpath()
        );
    }
}
