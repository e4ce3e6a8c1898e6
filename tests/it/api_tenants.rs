//! Tenants, auth and publish over real HTTP against a real Postgres.

use serde_json::json;

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;
use crate::helpers::factory::deliveries_of;

#[tokio::test]
async fn auth_is_required_and_checked() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    let (s, body) = api.raw("GET", "/api/v1/tenants/acme", None, None).await;
    assert_eq!(s, 401);
    assert_eq!(body["status"], 401);
    assert!(body["message"].is_string());
    assert_eq!(
        api.raw("GET", "/api/v1/tenants/acme", Some("wrong"), None)
            .await
            .0,
        401
    );
    assert_eq!(
        api.raw("GET", "/api/v1/tenants/acme", Some("a.b.c"), None)
            .await
            .0,
        401
    );
    let (s, body) = api.admin("GET", "/api/v1/nope", None).await;
    assert_eq!((s, body["status"].as_i64()), (404, Some(404)));
}

#[tokio::test]
async fn tenants_upsert_get_delete() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    let (s, t) = api
        .admin(
            "PUT",
            "/api/v1/tenants/acme",
            Some(json!({"metadata": {"name": "Acme"}})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["id"], "acme");
    assert_eq!(t["metadata"], json!({"name": "Acme"}));
    assert_eq!(t["destinations_count"], 0);
    assert_eq!(t["topics"], json!([]));
    assert!(t["created_at"].as_str().unwrap().ends_with('Z'));
    let (s, t) = api
        .admin(
            "PUT",
            "/api/v1/tenants/acme",
            Some(json!({"metadata": {"tier": "pro"}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        t["metadata"],
        json!({"tier": "pro"}),
        "metadata is replaced"
    );
    // No body at all is fine too.
    assert_eq!(
        api.raw("PUT", "/api/v1/tenants/bare", Some("test-api-key"), None)
            .await
            .0,
        201
    );

    let (s, t) = api.admin("GET", "/api/v1/tenants/acme", None).await;
    assert_eq!((s, &t["id"]), (200, &json!("acme")));
    assert_eq!(api.admin("GET", "/api/v1/tenants/ghost", None).await.0, 404);

    let (s, e) = api
        .admin(
            "PUT",
            "/api/v1/tenants/acme",
            Some(json!({"metadata": {"n": 1}})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(e["data"], json!(["metadata.n must be a string"]));
    let (s, _) = api
        .raw(
            "PUT",
            "/api/v1/tenants/acme",
            Some("test-api-key"),
            Some("{nope"),
        )
        .await;
    assert_eq!(s, 400);
    let (s, e) = api
        .admin(
            "PUT",
            "/api/v1/tenants/acme",
            Some(json!({"metadata": {}, "extra": 1})),
        )
        .await;
    assert_eq!(s, 422, "unknown fields are refused: {e}");
    let (s, _) = api.admin("PUT", "/api/v1/tenants/bad%20id", None).await;
    assert_eq!(s, 400);

    // Deleting removes the tenant's destinations and stops its deliveries.
    let c = db.client().await;
    c.batch_execute(
        "INSERT INTO outbound.destinations (id, tenant_id, type, topics) VALUES ('d1', 'acme', 'webhook', '{*}');
         INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('e1', 'acme', 't', '{}');",
    )
    .await
    .unwrap();
    assert_eq!(deliveries_of(&c, "e1").await, ["d1"]);
    let (s, b) = api.admin("DELETE", "/api/v1/tenants/acme", None).await;
    assert_eq!((s, b), (200, json!({"success": true})));
    assert!(deliveries_of(&c, "e1").await.is_empty());
    let n: i64 = c
        .query_one("SELECT count(*) FROM outbound.destinations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    assert_eq!(
        api.admin("DELETE", "/api/v1/tenants/acme", None).await.0,
        404
    );
}

#[tokio::test]
async fn a_tenant_token_sees_only_its_own_tenant_and_cannot_publish() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/a", None).await;
    api.admin("PUT", "/api/v1/tenants/b", None).await;
    let (s, tok) = api.admin("GET", "/api/v1/tenants/a/token", None).await;
    assert_eq!(s, 200);
    assert_eq!(tok["tenant_id"], "a");
    let token = tok["token"].as_str().unwrap().to_string();

    assert_eq!(
        api.as_token(&token, "GET", "/api/v1/tenants/a", None)
            .await
            .0,
        200
    );
    assert_eq!(
        api.as_token(&token, "PUT", "/api/v1/tenants/a", Some(json!({})))
            .await
            .0,
        200
    );
    for (method, path) in [
        ("GET", "/api/v1/tenants/b"),
        ("PUT", "/api/v1/tenants/b"),
        ("DELETE", "/api/v1/tenants/b"),
        ("GET", "/api/v1/tenants/b/token"),
        ("GET", "/api/v1/tenants/a/token"),
        ("GET", "/api/v1/tenants/a/portal"),
    ] {
        let (s, body) = api.as_token(&token, method, path, None).await;
        assert_eq!(s, 403, "{method} {path}: {body}");
        assert!(body.get("id").is_none(), "no data leaks: {body}");
    }
    // The tenant list, as Outpost answers it: that tenant alone, whatever
    // the query asks for.
    for path in [
        "/api/v1/tenants",
        "/api/v1/tenants?id=b",
        "/api/v1/tenants?id[]=a&id[]=b",
    ] {
        let (s, body) = api.as_token(&token, "GET", path, None).await;
        assert_eq!(s, 200, "{path}: {body}");
        let ids: Vec<&str> = body["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            (ids, body["count"].clone()),
            (vec!["a"], json!(1)),
            "{path}"
        );
    }
    let (s, _) = api
        .as_token(
            &token,
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "a", "topic": "t", "data": {}})),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        api.admin("GET", "/api/v1/tenants/ghost/token", None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn portal_links_carry_a_token() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (s, p) = api
        .admin("GET", "/api/v1/tenants/acme/portal?theme=dark", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(p["tenant_id"], "acme");
    let url = p["redirect_url"].as_str().unwrap();
    assert!(url.starts_with(&api.base), "{url}");
    assert!(url.contains("tenant_id=acme") && url.contains("&theme=dark"));
    let token = url
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert_eq!(
        api.as_token(token, "GET", "/api/v1/tenants/acme", None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn tenants_list_pages_both_ways_without_gaps() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    let c = db.client().await;
    c.batch_execute(
        "INSERT INTO outbound.tenants (id, created_at)
         SELECT 't' || lpad(g::text, 3, '0'), '2026-01-01'::timestamptz + g * interval '1 minute'
         FROM generate_series(1, 45) g",
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut path = "/api/v1/tenants?limit=10".to_string();
    let mut pages = Vec::new();
    loop {
        let (s, page) = api.admin("GET", &path, None).await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["count"], 45);
        let ids: Vec<String> = page["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        seen.extend(ids.clone());
        pages.push((ids, page["pagination"]["prev"].clone()));
        match page["pagination"]["next"].as_str() {
            Some(n) => path = format!("/api/v1/tenants?limit=10&next={n}"),
            None => break,
        }
    }
    let mut expected: Vec<String> = (1..=45).rev().map(|g| format!("t{g:03}")).collect();
    assert_eq!(seen, expected, "newest first, no gaps or repeats");
    // Walk back from the last page with prev.
    let mut back = Vec::new();
    let mut prev = pages.last().unwrap().1.clone();
    back.extend(pages.last().unwrap().0.clone());
    while let Some(p) = prev.as_str() {
        let (_, page) = api
            .admin("GET", &format!("/api/v1/tenants?limit=10&prev={p}"), None)
            .await;
        let ids: Vec<String> = page["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        back.splice(0..0, ids);
        prev = page["pagination"]["prev"].clone();
    }
    assert_eq!(back, expected);
    let (_, asc) = api
        .admin("GET", "/api/v1/tenants?limit=100&dir=asc", None)
        .await;
    expected.reverse();
    let ids: Vec<&str> = asc["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(
        api.admin("GET", "/api/v1/tenants?limit=0", None).await.0,
        400
    );
    assert_eq!(
        api.admin("GET", "/api/v1/tenants?next=%%%", None).await.0,
        400
    );
}

#[tokio::test]
async fn publish_over_http() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let c = db.client().await;
    c.batch_execute("INSERT INTO outbound.destinations (id, tenant_id, type, topics) VALUES ('d1', 'acme', 'webhook', '{user.created}')")
        .await
        .unwrap();
    let body = r#"{"tenant_id":"acme","topic":"user.created","id":"evt_1","metadata":{"source":"crm"},"data":{"z":1,  "a":[1.50]}}"#;
    let (s, r) = api
        .raw("POST", "/api/v1/publish", Some("test-api-key"), Some(body))
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(
        r,
        json!({"id": "evt_1", "duplicate": false, "destination_ids": ["d1"]})
    );
    let stored: String = c
        .query_one(
            "SELECT data::text FROM outbound.events WHERE id = 'evt_1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, r#"{"z":1,  "a":[1.50]}"#, "data kept byte for byte");
    let (s, r) = api
        .raw("POST", "/api/v1/publish", Some("test-api-key"), Some(body))
        .await;
    assert_eq!(s, 202);
    assert_eq!(
        r,
        json!({"id": "evt_1", "duplicate": true, "destination_ids": ["d1"]}),
        "a duplicate answers where the event went, as Outpost does"
    );
    assert_eq!(
        deliveries_of(&c, "evt_1").await,
        ["d1"],
        "nothing delivered twice"
    );

    // No TOPICS here: the topic is optional, as in Outpost, and an event
    // without one goes to every destination (d1 is on user.created only).
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "acme", "id": "evt_untopical", "data": {}})),
        )
        .await;
    assert_eq!(
        (s, r["destination_ids"].clone()),
        (202, json!(["d1"])),
        "{r}"
    );
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "acme", "topic": "t", "data": [1]})),
        )
        .await;
    assert_eq!(
        (s, r["data"].clone()),
        (422, json!(["data must be a JSON object"]))
    );
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "ghost", "topic": "t", "data": {}})),
        )
        .await;
    assert_eq!(s, 422, "{r}");
    assert!(r["message"].as_str().unwrap().contains("ghost"));
    let (s, _) = api
        .raw(
            "POST",
            "/api/v1/publish",
            Some("test-api-key"),
            Some("{\"tenant_id\":"),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "acme", "topic": "t", "data": {}, "bogus": 1})),
        )
        .await;
    assert_eq!(s, 422);
    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": 5, "topic": "t", "data": {}})),
        )
        .await;
    assert_eq!(s, 422);
    let big = json!({"tenant_id": "acme", "topic": "t", "data": {"x": "y".repeat(1_100_000)}});
    let (s, _) = api.admin("POST", "/api/v1/publish", Some(big)).await;
    assert_eq!(s, 422, "oversize");
}

#[tokio::test]
async fn publish_validates_topics_when_a_list_is_configured() {
    let db = TestDb::new().await;
    let api = TestApp::start_with(&db, |s| {
        s.topics.topics = Some(vec!["user.created".to_string()]);
    })
    .await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let ok = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "acme", "topic": "user.created", "data": {}})),
        )
        .await;
    assert_eq!(ok.0, 202);
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "acme", "topic": "user.gone", "data": {}})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(r["data"][0]
        .as_str()
        .unwrap()
        .contains("not in the configured topic list"));
}
