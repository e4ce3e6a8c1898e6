//! Payload transformations (issue 25, item 4): jq programs in a
//! destination's `delivery_policy.transform`, checked when saved, previewed
//! through the API, run by a real worker before it signs and sends to a
//! receiver on loopback, and failing on their own code, without retries.

use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;
use crate::helpers::factory::attempts_of;
use crate::helpers::hmac_hex;
use crate::helpers::receiver::TestReceiver;

const SECRET: &str = "whsec_transform";

/// The API with the example catalog, and tenant acme.
async fn start(db: &TestDb) -> TestApp {
    let api = TestApp::start_with(db, |s| {
        s.topics.catalog =
            Some(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/topics.yaml").into());
    })
    .await;
    let (s, _) = api.admin("PUT", "/api/v1/tenants/acme", None).await;
    assert_eq!(s, 201);
    api
}

/// Creates webhook `id` to `url` with `transform`; answers the API's reply.
async fn create(api: &TestApp, id: &str, url: &str, transform: Value) -> (u16, Value) {
    api.admin(
        "POST",
        "/api/v1/tenants/acme/destinations",
        Some(json!({
            "id": id,
            "type": "webhook",
            "topics": ["user.created"],
            "config": {"url": url},
            "credentials": {"secret": SECRET},
            "delivery_policy": {"transform": transform},
        })),
    )
    .await
}

/// Publishes `data` on user.created to `destination` with event id `id`.
async fn publish(api: &TestApp, id: &str, destination: &str, data: Value) {
    let (s, body) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({
                "id": id,
                "tenant_id": "acme",
                "topic": "user.created",
                "destination_id": destination,
                "data": data,
                "metadata": {"source": "crm"},
            })),
        )
        .await;
    assert_eq!(s, 202, "{body}");
}

#[tokio::test]
async fn the_receiver_gets_the_transformed_body_signed_over_its_bytes() {
    let db = TestDb::new().await;
    let api = start(&db).await;
    let rx = TestReceiver::start().await;
    let transform = json!({
        "body": r#"{text: "\(.topic): \(.data.email)", id: .id, roles: (.data.roles | length)}"#,
        "headers": r#"{"source": ("from-" + .metadata.source), "kind": "greeting"}"#,
    });
    let (s, created) = create(&api, "slack", &rx.url("/slack"), transform.clone()).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["delivery_policy"]["transform"], transform);
    let data = json!({"user_id": "u1", "email": "ada@example.com", "roles": ["a", "b"]});
    publish(&api, "e1", "slack", data).await;

    api.worker().run_once(Utc::now()).await.unwrap();
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let body = &got[0].body;
    assert_eq!(
        std::str::from_utf8(body).unwrap(),
        r#"{"text":"user.created: ada@example.com","id":"e1","roles":2}"#,
        "the program's output, compact, keys in its order"
    );
    assert_eq!(
        got[0].header("x-outpost-signature"),
        Some(format!("v0={}", hmac_hex(SECRET, body)).as_str()),
        "signed over exactly the bytes sent"
    );
    assert_eq!(got[0].header("x-outpost-source"), Some("from-crm"));
    assert_eq!(got[0].header("x-outpost-kind"), Some("greeting"));
    assert_eq!(got[0].header("x-outpost-topic"), Some("user.created"));
    assert_eq!(got[0].header("x-outpost-event-id"), Some("e1"));
    let c = db.client().await;
    let attempts = attempts_of(&c, "e1", "slack").await;
    assert_eq!(attempts, [(1, "success".into(), "200".into(), false)]);
}

#[tokio::test]
async fn a_failing_transformation_is_an_attempt_of_its_own_and_is_not_retried() {
    let db = TestDb::new().await;
    let api = start(&db).await;
    let rx = TestReceiver::start().await;
    let failing = json!({"body": r#"if .data.email then error("no \(.data.user_id)") else . end"#});
    let (s, _) = create(&api, "fails", &rx.url("/fails"), failing).await;
    assert_eq!(s, 201);
    // Headers may not set outbound's own keys.
    let own = json!({"headers": r#"{topic: "other"}"#});
    let (s, _) = create(&api, "own", &rx.url("/own"), own).await;
    assert_eq!(s, 201);
    // A program that never ends, and one that overflows the stack: each
    // is stopped, and the worker goes on with the others.
    let (s, _) = create(
        &api,
        "loops",
        &rx.url("/loops"),
        json!({"body": "def f: f; f"}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = create(
        &api,
        "deep",
        &rx.url("/deep"),
        json!({"body": "def f: 1 + f; f"}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = create(
        &api,
        "fine",
        &rx.url("/fine"),
        json!({"body": ".data.user_id"}),
    )
    .await;
    assert_eq!(s, 201);
    publish(
        &api,
        "e1",
        "fails",
        json!({"user_id": "u1", "email": "a@b.c"}),
    )
    .await;
    publish(&api, "e2", "own", json!({"user_id": "u2"})).await;
    publish(&api, "e3", "loops", json!({"user_id": "u3"})).await;
    publish(&api, "e4", "deep", json!({"user_id": "u4"})).await;
    publish(&api, "e5", "fine", json!({"user_id": "u5"})).await;

    let now = Utc::now();
    api.worker().run_once(now).await.unwrap();
    let c = db.client().await;
    let failed = (
        1,
        "failed".to_string(),
        "transform_failed".to_string(),
        false,
    );
    assert_eq!(
        attempts_of(&c, "e1", "fails").await,
        std::slice::from_ref(&failed)
    );
    assert_eq!(
        attempts_of(&c, "e2", "own").await,
        std::slice::from_ref(&failed)
    );
    assert_eq!(
        attempts_of(&c, "e3", "loops").await,
        std::slice::from_ref(&failed)
    );
    assert_eq!(attempts_of(&c, "e4", "deep").await, [failed]);
    let fine = rx.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        (fine[0].path.as_str(), &fine[0].body[..]),
        ("/fine", &b"\"u5\""[..])
    );
    // Nothing was sent, and nothing is left to retry.
    let queued: i64 = c
        .query_one("SELECT count(*) FROM outbound.deliveries", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 0, "no retry is scheduled");
    api.worker()
        .run_once(now + chrono::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(attempts_of(&c, "e1", "fails").await.len(), 1);
    assert_eq!(rx.count(), 1, "nothing but fine's reached the receiver");

    // What went wrong is where an attempt's response is shown.
    let (s, list) = api
        .admin(
            "GET",
            "/api/v1/tenants/acme/destinations/fails/attempts?include=response_data",
            None,
        )
        .await;
    assert_eq!(s, 200, "{list}");
    let attempt = &list["models"][0];
    assert_eq!(attempt["code"], "transform_failed");
    assert_eq!(
        attempt["response_data"],
        json!({"error": "transform_failed", "message": "transform.body: no u1"})
    );
    let (_, list) = api
        .admin(
            "GET",
            "/api/v1/tenants/acme/destinations/own/attempts?include=response_data",
            None,
        )
        .await;
    assert_eq!(
        list["models"][0]["response_data"]["message"],
        "transform.headers: topic is outbound's own and cannot be set"
    );
    for (destination, says) in [
        ("loops", "transform: ran longer than 250 ms (CPU time) and was stopped"),
        ("deep", "transform: stopped the process that ran it (recursion too deep, or more than 512 MiB of memory)"),
    ] {
        let path = format!("/api/v1/tenants/acme/destinations/{destination}/attempts?include=response_data");
        let (_, list) = api.admin("GET", &path, None).await;
        assert_eq!(list["models"][0]["response_data"]["message"], says);
    }
}

#[tokio::test]
async fn programs_are_compiled_when_saved_and_errors_say_where() {
    let db = TestDb::new().await;
    let api = start(&db).await;
    let url = "http://127.0.0.1:9/x";
    let refused = |v: &Value| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("; ")
    };

    let (s, body) = create(&api, "d1", url, json!({"body": "{a: .data |\n  frob}"})).await;
    assert_eq!(s, 422);
    assert_eq!(
        refused(&body),
        "delivery_policy.transform.body: line 2, column 3: undefined filter frob/0"
    );
    // The parts of jq's library that reach outside the program are not there.
    for program in [
        "env",
        "$ENV.HOME",
        "now",
        "input",
        "debug",
        "halt_error",
        r#"include "x"; ."#,
    ] {
        let (s, body) = create(&api, "d1", url, json!({"headers": program})).await;
        assert_eq!(s, 422, "{program}");
        assert!(
            refused(&body).starts_with("delivery_policy.transform.headers: line 1, column "),
            "{program}: {body}"
        );
    }
    let (s, body) = create(&api, "d1", url, json!({"body": 5, "extra": "."})).await;
    assert_eq!(s, 422);
    let all = refused(&body);
    assert!(
        all.contains("delivery_policy.transform.extra is not a transform field"),
        "{all}"
    );
    assert!(
        all.contains("delivery_policy.transform.body must be a jq program"),
        "{all}"
    );

    // jaq's parser recurses: 8000 nested brackets overflow its stack,
    // which would abort the API server; the runner it ran in dies instead.
    let nested = format!("{}{}", "[".repeat(8000), "]".repeat(8000));
    let (s, body) = create(&api, "d1", url, json!({"body": nested})).await;
    assert_eq!(s, 422);
    assert_eq!(
        refused(&body),
        "delivery_policy.transform: the programs could not be compiled \
         (too long or too deeply nested)"
    );

    let (s, _) = create(&api, "d1", url, json!({"body": ".data"})).await;
    assert_eq!(s, 201);
    let path = "/api/v1/tenants/acme/destinations/d1";
    let patch = |t: Value| json!({"delivery_policy": {"transform": t}});
    let (s, body) = api
        .admin("PATCH", path, Some(patch(json!({"headers": "{"}))))
        .await;
    assert_eq!(s, 422);
    assert!(refused(&body).starts_with("delivery_policy.transform.headers: line 1, column"));
    let (s, body) = api
        .admin(
            "PATCH",
            path,
            Some(patch(json!({"headers": "{x: .topic}"}))),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        body["delivery_policy"]["transform"],
        json!({"body": ".data", "headers": "{x: .topic}"}),
        "merged as the rest of the policy"
    );
    let (_, body) = api.admin("PATCH", path, Some(patch(Value::Null))).await;
    assert_eq!(body["delivery_policy"], json!({}));

    // The schema refuses a transform the worker could not read.
    let c = db.client().await;
    let err = c
        .execute(
            r#"UPDATE outbound.destinations SET delivery_policy = '{"transform": {"body": 1}}' WHERE id = 'd1'"#,
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("destinations_transform_valid"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_preview_shows_what_would_be_sent_and_survives_any_program() {
    let db = TestDb::new().await;
    let api = start(&db).await;
    let (s, _) = create(
        &api,
        "d1",
        "http://127.0.0.1:9/x",
        json!({"body": "{user: .data.user_id}"}),
    )
    .await;
    assert_eq!(s, 201);
    let saved = "/api/v1/tenants/acme/destinations/d1/transform/preview";
    let new = "/api/v1/tenants/acme/transform/preview";

    // The saved program on the catalog's sample of the destination's topic.
    let (s, out) = api.admin("POST", saved, Some(json!({}))).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["topic"], "user.created");
    assert_eq!(out["body"], json!({"user": "usr_1f8e2a"}));
    assert_eq!(out["metadata"]["topic"], "user.created");

    // A program and an event of the caller's, before any destination exists.
    let (_, tok) = api.admin("GET", "/api/v1/tenants/acme/token", None).await;
    let token = tok["token"].as_str().unwrap();
    let ask = json!({
        "transform": {"body": "[.data.n, .metadata.m]", "headers": "{h: .topic}"},
        "event": {"topic": "campaign.completed", "data": {"n": 3}, "metadata": {"m": "x"}},
        "delivery_metadata": {"region": "eu"},
    });
    let (s, out) = api.as_token(token, "POST", new, Some(ask)).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["body"], json!([3, "x"]));
    assert_eq!(out["metadata"]["h"], "campaign.completed");
    assert_eq!(out["metadata"]["region"], "eu");
    assert_eq!(out["metadata"]["m"], "x");
    api.admin("PUT", "/api/v1/tenants/globex", None).await;
    let (_, other) = api.admin("GET", "/api/v1/tenants/globex/token", None).await;
    let (s, _) = api
        .as_token(
            other["token"].as_str().unwrap(),
            "POST",
            saved,
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 403, "another tenant's token");

    // Failures are named; a loop, a runaway recursion and a memory hog
    // are stopped without harm to the service.
    for (program, says) in [
        ("error(\"nope\")", "transform.body: nope"),
        ("empty", "transform.body: gave no output"),
        (".data[]", "transform.body: gave more than one output"),
        (
            "def f: f; f",
            "transform: ran longer than 250 ms (CPU time)",
        ),
        (
            "def f: 1 + f; f",
            "transform: stopped the process that ran it",
        ),
        (
            "[limit(1e9; repeat(\"xxxxxxxxxxxxxxxx\"))] | length",
            "transform:",
        ),
        (
            r#""0123456789" * 200000"#,
            "transform.body: gave a body longer than 1048576",
        ),
    ] {
        let ask = json!({"transform": {"body": program}});
        let (s, out) = api.admin("POST", saved, Some(ask)).await;
        assert_eq!(s, 422, "{program}: {out}");
        let message = out["message"].as_str().unwrap();
        assert!(message.starts_with(says), "{program}: {message}");
    }
    // And the next program runs as if nothing happened.
    let (s, out) = api
        .admin("POST", saved, Some(json!({"transform": {"body": ".id"}})))
        .await;
    assert_eq!((s, &out["body"]), (200, &json!("evt_preview")));
    // No transform: the event as it would be sent anyway.
    let (s, out) = api
        .admin("POST", saved, Some(json!({"transform": null})))
        .await;
    assert_eq!(s, 200);
    assert_eq!(out["body"]["user_id"], "usr_1f8e2a");
    let (s, out) = api
        .admin("POST", new, Some(json!({"event": {"topic": "nope"}})))
        .await;
    assert_eq!(s, 422, "{out}");
}

#[tokio::test]
async fn a_program_is_stopped_at_its_memory_bound() {
    let db = TestDb::new().await;
    let api = TestApp::start_with(&db, |s| {
        s.transform.max_memory_mb = 128;
        s.transform.timeout_ms = 30_000;
    })
    .await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let started = std::time::Instant::now();
    let ask = json!({
        "transform": {"body": "[range(1e9)] | length"},
        "event": {"topic": "t", "data": {}},
    });
    let (s, out) = api
        .admin("POST", "/api/v1/tenants/acme/transform/preview", Some(ask))
        .await;
    assert_eq!(s, 422, "{out}");
    assert_eq!(
        out["message"],
        "transform: used more than 128 MiB of memory and was stopped"
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "long before its timeout"
    );
    // The next run gets a new runner.
    let ask = json!({"transform": {"body": ".data"}, "event": {"topic": "t", "data": {"a": 1}}});
    let (s, out) = api
        .admin("POST", "/api/v1/tenants/acme/transform/preview", Some(ask))
        .await;
    assert_eq!((s, &out["body"]), (200, &json!({"a": 1})));
}
