//! The destination types end to end, one file per type (the webhook type's
//! are the delivery tests), and the lists of type names outside the
//! registry held to it.

pub mod aws;
pub mod azure_servicebus;
pub mod gcp_pubsub;
pub mod hookdeck;
pub mod kafka;
pub mod rabbitmq;

use outbound::destinations::declarations;
use serde_json::Value;

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;

/// The registry's type names, in its order.
fn registered() -> Vec<String> {
    declarations()
        .map(|t| t.kind.as_str().to_string())
        .collect()
}

/// A new type is a registry row plus a migration line: the database's
/// constraint, the OpenAPI document's enum and `GET /destination-types`
/// name exactly the registered types, so none of them can be forgotten.
#[tokio::test]
async fn the_schema_the_openapi_document_and_the_api_name_the_registered_types() {
    let db = TestDb::new().await;
    let client = db.connect().await;
    let definition: String = client
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint
              WHERE conname = 'destinations_type_known'
                AND conrelid = 'outbound.destinations'::regclass",
            &[],
        )
        .await
        .expect("the type constraint")
        .get(0);
    // ((type = ANY (ARRAY['webhook'::text, …])))
    let mut in_schema: Vec<String> = definition
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect();
    let mut want = registered();
    want.sort();
    in_schema.sort();
    assert_eq!(in_schema, want, "the migrations' list: {definition}");

    let api = TestApp::start(&db).await;
    let (s, doc) = api.raw("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    let documented: Vec<String> = doc["components"]["schemas"]["DestinationCreate"]["properties"]
        ["type"]["enum"]
        .as_array()
        .expect("an enum of types")
        .iter()
        .map(|v| v.as_str().expect("a name").to_string())
        .collect();
    assert_eq!(documented, registered(), "the OpenAPI enum");

    let (s, types) = api.admin("GET", "/api/v1/destination-types", None).await;
    assert_eq!(s, 200);
    let served: Vec<&str> = types
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["type"].as_str())
        .collect();
    assert_eq!(served, registered(), "GET /destination-types");
    assert!(types.as_array().unwrap().iter().all(|t| t["icon"]
        .as_str()
        .is_some_and(|i| i.starts_with("<svg"))
        && t["config_fields"].is_array()
        && !Value::is_null(&t["label"])));
}
