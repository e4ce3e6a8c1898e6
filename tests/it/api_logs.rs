//! Events, attempts and retry over real HTTP.

use chrono::Utc;
use serde_json::json;

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;
use crate::helpers::factory::{tenant, webhook};
use crate::helpers::receiver::{Reply, TestReceiver};

#[tokio::test]
async fn events_page_both_ways_over_2500_events_without_gaps_or_repeats() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    let c = db.client().await;
    tenant(&c, "acme").await;
    tenant(&c, "other").await;
    // 2,500 events, some sharing a timestamp (ties broken by id), plus noise.
    c.batch_execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data, time)
         SELECT 'e' || lpad(g::text, 5, '0'), 'acme', CASE WHEN g % 2 = 0 THEN 'even' ELSE 'odd' END,
                json_build_object('n', g), now() - (g / 3) * interval '1 second'
         FROM generate_series(1, 2500) g;
         INSERT INTO outbound.events (id, tenant_id, topic, data)
         SELECT 'x' || g, 'other', 'even', '{}' FROM generate_series(1, 50) g;",
    )
    .await
    .unwrap();
    let mut forward = Vec::new();
    let mut path = "/api/v1/events?tenant_id=acme&limit=300".to_string();
    let mut last_prev = None;
    loop {
        let (s, page) = api.admin("GET", &path, None).await;
        assert_eq!(s, 200, "{page}");
        for m in page["models"].as_array().unwrap() {
            forward.push(m["id"].as_str().unwrap().to_string());
        }
        last_prev = page["pagination"]["prev"]
            .as_str()
            .map(String::from)
            .or(last_prev);
        match page["pagination"]["next"].as_str() {
            Some(n) => path = format!("/api/v1/events?tenant_id=acme&limit=300&next={n}"),
            None => break,
        }
    }
    assert_eq!(forward.len(), 2500);
    let mut unique = forward.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 2500, "no repeats");
    // Newest first: time descending, then id descending.
    let mut expected = forward.clone();
    expected.sort_by_key(|id| {
        let g: i64 = id[1..].parse().unwrap();
        (g / 3, std::cmp::Reverse(id.clone()))
    });
    assert_eq!(forward, expected);

    // And back again with prev from the last page.
    let (_, last) = api.admin("GET", &path, None).await;
    let mut backward: Vec<String> = last["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    let mut prev = last["pagination"]["prev"].as_str().map(String::from);
    while let Some(p) = prev {
        let (_, page) = api
            .admin(
                "GET",
                &format!("/api/v1/events?tenant_id=acme&limit=300&prev={p}"),
                None,
            )
            .await;
        let ids: Vec<String> = page["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        backward.splice(0..0, ids);
        prev = page["pagination"]["prev"].as_str().map(String::from);
    }
    assert_eq!(backward, forward);
    let _ = last_prev;

    // Filters.
    let (_, page) = api
        .admin(
            "GET",
            "/api/v1/events?tenant_id=acme&topic=even&limit=1000",
            None,
        )
        .await;
    assert_eq!(page["models"].as_array().unwrap().len(), 1000);
    assert!(page["models"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["topic"] == "even"));
    let (_, page) = api
        .admin("GET", "/api/v1/events?id[]=e00001&id[]=x1", None)
        .await;
    assert_eq!(page["models"].as_array().unwrap().len(), 2);
    let future = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, page) = api
        .admin(
            "GET",
            &format!("/api/v1/events?time[gte]={}", urlencode(&future)),
            None,
        )
        .await;
    assert_eq!(page["models"], json!([]));
    assert_eq!(
        api.admin("GET", "/api/v1/events?limit=1001", None).await.0,
        400
    );
    assert_eq!(
        api.admin("GET", "/api/v1/events?time[gt]=soon", None)
            .await
            .0,
        400
    );

    // A tenant token sees only its own events; asking for another
    // tenant's is refused, as every cross-tenant request is.
    let (_, tok) = api.admin("GET", "/api/v1/tenants/other/token", None).await;
    let token = tok["token"].as_str().unwrap();
    for path in [
        "/api/v1/events?tenant_id=acme&limit=1000",
        "/api/v1/events?tenant_id=other&tenant_id=acme",
    ] {
        let (s, e) = api.as_token(token, "GET", path, None).await;
        assert_eq!((s, e["status"].clone()), (403, json!(403)), "{path}: {e}");
    }
    let (_, page) = api
        .as_token(
            token,
            "GET",
            "/api/v1/events?tenant_id=other&limit=1000",
            None,
        )
        .await;
    assert_eq!(page["models"].as_array().unwrap().len(), 50);
    assert!(page["models"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["tenant_id"] == "other"));
    assert_eq!(
        api.as_token(token, "GET", "/api/v1/events/e00001", None)
            .await
            .0,
        404
    );
    let (s, e) = api.admin("GET", "/api/v1/events/e00001", None).await;
    assert_eq!(s, 200);
    assert_eq!(e["data"], json!({"n": 1}));
    assert_eq!(e["matched_destination_ids"], json!([]));
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn attempts_are_listed_with_includes_and_retried_by_hand() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.script([Reply::Status(500)]);
    let acme = tenant(&c, "acme").await;
    tenant(&c, "other").await;
    webhook(
        &c,
        &acme,
        "d1",
        &["user.created"],
        &rx.url("/"),
        json!({"secret": "s"}),
    )
    .await;
    let (s, _) = api
        .admin("POST", "/api/v1/publish", Some(json!({"id": "evt_1", "tenant_id": "acme", "topic": "user.created", "data": {"a": 1}})))
        .await;
    assert_eq!(s, 202);
    api.worker().run_once(Utc::now()).await.unwrap();

    let (s, page) = api
        .admin(
            "GET",
            "/api/v1/attempts?tenant_id=acme&include=event.data&include=response_data",
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let a = &page["models"][0];
    assert_eq!(a["status"], "failed");
    assert_eq!(a["code"], "500");
    assert_eq!(a["attempt_number"], 1);
    assert_eq!(a["manual"], false);
    assert_eq!(a["event_id"], "evt_1");
    assert_eq!(a["destination_id"], "d1");
    assert_eq!(a["event"]["data"], json!({"a": 1}));
    assert_eq!(a["event"]["topic"], "user.created");
    assert_eq!(a["response_data"]["status_code"], 500);
    let id = a["id"].as_str().unwrap().to_string();
    let (s, one) = api
        .admin("GET", &format!("/api/v1/attempts/{id}"), None)
        .await;
    assert_eq!((s, one["id"].as_str()), (200, Some(id.as_str())));
    assert!(one.get("event").is_none(), "no include, no event");
    let (s, _) = api
        .admin(
            "GET",
            &format!("/api/v1/tenants/acme/destinations/d1/attempts/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        api.admin(
            "GET",
            &format!("/api/v1/tenants/acme/destinations/d2/attempts/{id}"),
            None
        )
        .await
        .0,
        404
    );
    let (_, page) = api
        .admin(
            "GET",
            "/api/v1/tenants/acme/destinations/d1/attempts?status=failed",
            None,
        )
        .await;
    assert_eq!(page["models"].as_array().unwrap().len(), 1);
    let (_, page) = api.admin("GET", "/api/v1/events/evt_1", None).await;
    assert_eq!(page["matched_destination_ids"], json!(["d1"]));

    // Another tenant's token sees nothing of it.
    let (_, tok) = api.admin("GET", "/api/v1/tenants/other/token", None).await;
    let token = tok["token"].as_str().unwrap();
    assert_eq!(
        api.as_token(token, "GET", &format!("/api/v1/attempts/{id}"), None)
            .await
            .0,
        404
    );
    let (s, _) = api
        .as_token(token, "GET", "/api/v1/attempts?tenant_id=acme", None)
        .await;
    assert_eq!(s, 403);
    let (_, page) = api.as_token(token, "GET", "/api/v1/attempts", None).await;
    assert_eq!(page["models"], json!([]));
    assert_eq!(
        api.as_token(
            token,
            "GET",
            "/api/v1/tenants/acme/destinations/d1/attempts",
            None
        )
        .await
        .0,
        403
    );
    let (s, _) = api
        .as_token(
            token,
            "POST",
            "/api/v1/retry",
            Some(json!({"event_id": "evt_1", "destination_id": "d1"})),
        )
        .await;
    assert_eq!(s, 404);

    // Manual retry: 202, a new attempt numbered 2, manual.
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/retry",
            Some(json!({"event_id": "evt_1", "destination_id": "d1"})),
        )
        .await;
    assert_eq!((s, r), (202, json!({"success": true})));
    api.worker().run_once(Utc::now()).await.unwrap();
    let (_, page) = api
        .admin("GET", "/api/v1/attempts?event_id=evt_1&dir=asc", None)
        .await;
    let nums: Vec<(i64, bool, String)> = page["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["attempt_number"].as_i64().unwrap(),
                m["manual"].as_bool().unwrap(),
                m["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        nums,
        [(1, false, "failed".into()), (2, true, "success".into())]
    );

    // 404 without a prior attempt; 400 once the destination no longer matches or is disabled.
    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/retry",
            Some(json!({"event_id": "nope", "destination_id": "d1"})),
        )
        .await;
    assert_eq!(s, 404);
    c.batch_execute("UPDATE outbound.destinations SET topics = '{user.deleted}'")
        .await
        .unwrap();
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/retry",
            Some(json!({"event_id": "evt_1", "destination_id": "d1"})),
        )
        .await;
    assert_eq!(s, 400, "{r}");
    c.batch_execute("UPDATE outbound.destinations SET topics = '{*}', disabled_at = now()")
        .await
        .unwrap();
    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/retry",
            Some(json!({"event_id": "evt_1", "destination_id": "d1"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = api
        .admin("POST", "/api/v1/retry", Some(json!({"event_id": "evt_1"})))
        .await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn topics_list_the_configured_topics() {
    let db = TestDb::new().await;
    let api = TestApp::start_with(&db, |s| {
        s.topics.topics = Some(vec!["a.b".to_string(), "c.d".to_string()]);
    })
    .await;
    let (s, t) = api.admin("GET", "/api/v1/topics", None).await;
    assert_eq!((s, t), (200, json!(["a.b", "c.d"])));
}
