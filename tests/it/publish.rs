//! Publishing by SQL: transactions, duplicates, unknown tenants, outbound.publish().

use outbound::domain::ids::{DestinationId, EventId, TenantId};
use outbound::domain::topic::Topic;
use outbound::store::{self, events::NewEvent, StoreError};

use crate::helpers::db::TestDb;
use crate::helpers::factory::{count, deliveries_of, destination, tenant};

#[tokio::test]
async fn an_event_inserted_in_a_rolled_back_transaction_leaves_nothing() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "all", &["*"], None).await;
    c.batch_execute("CREATE TABLE public.orders (id int)")
        .await
        .unwrap();

    let mut app = db.connect().await;
    let tx = app.transaction().await.unwrap();
    tx.execute("INSERT INTO public.orders VALUES (1)", &[])
        .await
        .unwrap();
    tx.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('rb', 'acme', 'order.created', '{\"order\":1}')",
        &[],
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();

    assert_eq!(count(&c, "SELECT count(*) FROM outbound.events").await, 0);
    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.deliveries").await,
        0
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.event_ids").await,
        0
    );

    // The same id can then be published for real, with the business change.
    let tx = app.transaction().await.unwrap();
    tx.execute("INSERT INTO public.orders VALUES (1)", &[])
        .await
        .unwrap();
    tx.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('rb', 'acme', 'order.created', '{\"order\":1}')",
        &[],
    )
    .await
    .unwrap();
    // Not visible to others before commit.
    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.deliveries").await,
        0
    );
    tx.commit().await.unwrap();
    assert_eq!(deliveries_of(&c, "rb").await, ["all"]);
}

#[tokio::test]
async fn a_duplicate_id_is_refused_and_never_fanned_out_twice() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "all", &["*"], None).await;
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('dup', 'acme', 'a.b', '{}')",
        &[],
    )
    .await
    .unwrap();
    // Same id, even on another day (another partition): a unique violation.
    let err = c
        .execute(
            "INSERT INTO outbound.events (id, tenant_id, topic, data, time)
             VALUES ('dup', 'acme', 'a.b', '{}', now() - interval '2 days')",
            &[],
        )
        .await
        .unwrap_err();
    let db_err = err.as_db_error().unwrap();
    assert_eq!(db_err.code().code(), "23505");
    assert_eq!(db_err.constraint(), Some("event_id_unique"));

    // outbound.publish() answers duplicate = true instead.
    let row = c
        .query_one(
            "SELECT event_id, duplicate, destination_ids FROM outbound.publish('acme', 'a.b', '{}', id => 'dup')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "dup");
    assert!(row.get::<_, bool>(1));
    assert_eq!(
        row.get::<_, Vec<String>>(2),
        ["all"],
        "a duplicate answers where the event went, as Outpost does"
    );
    assert_eq!(count(&c, "SELECT count(*) FROM outbound.events").await, 1);
    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.deliveries").await,
        1
    );
}

/// Eight publishes of one id at once, 100 times over: exactly one is
/// accepted each time, and the others are duplicates, not errors (even when
/// two transactions start in the same microsecond and collide on the events
/// key before event_ids sees them).
#[tokio::test]
async fn concurrent_publishes_of_one_id_deliver_once() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "all", &["*"], None).await;
    for round in 0..100 {
        let id = format!("same{round}");
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (pool, id) = (db.pool.clone(), id.clone());
            tasks.spawn(async move {
                let c = pool.get().await.unwrap();
                let mut e = NewEvent::new(
                    TenantId::parse("acme").unwrap(),
                    Topic::parse("a.b").unwrap(),
                    "{}",
                );
                e.id = Some(EventId::parse(&id).unwrap());
                store::events::publish(&c, &e).await
            });
        }
        let mut fresh = 0;
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                Ok(p) if !p.duplicate => fresh += 1,
                Ok(_) => {}
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        assert_eq!(fresh, 1, "round {round}");
        assert_eq!(deliveries_of(&c, &id).await, ["all"]);
    }
}

#[tokio::test]
async fn an_event_for_an_unknown_tenant_is_refused_with_a_clear_error() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    // acme's event is queued; the statement still fails on ghost's.
    destination(&c, &acme, "all", &["*"], None).await;
    let err = c
        .execute(
            "INSERT INTO outbound.events (tenant_id, topic, data) VALUES ('acme', 'a', '{}'), ('ghost', 'a', '{}')",
            &[],
        )
        .await
        .unwrap_err();
    let db_err = err.as_db_error().unwrap();
    assert_eq!(db_err.code().code(), "23503");
    assert_eq!(
        db_err.message(),
        "outbound: tenant \"ghost\" does not exist"
    );
    assert_eq!(count(&c, "SELECT count(*) FROM outbound.events").await, 0);
    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.deliveries").await,
        0
    );

    // Alone, too (no destination matched, so the tenant is checked).
    let err = c
        .execute(
            "INSERT INTO outbound.events (tenant_id, topic, data) VALUES ('ghost', 'a', '{}')",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "23503");

    let e = NewEvent::new(
        TenantId::parse("ghost").unwrap(),
        Topic::parse("a").unwrap(),
        "{}",
    );
    match store::events::publish(&c, &e).await {
        Err(StoreError::MissingReference { message }) => assert!(message.contains("ghost")),
        other => panic!("expected MissingReference, got {other:?}"),
    }
}

#[tokio::test]
async fn data_must_be_an_object_and_is_kept_verbatim() {
    let db = TestDb::new().await;
    let c = db.client().await;
    tenant(&c, "acme").await;
    let err = c
        .execute(
            "INSERT INTO outbound.events (tenant_id, topic, data) VALUES ('acme', 'a', '[1,2]')",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.as_db_error().unwrap().constraint(),
        Some("events_data_object")
    );

    let body = "{ \"zeta\": 1,\n  \"alpha\": [1.50, 2e3], \"é\": \"\\u00e9\" }";
    let e = NewEvent::new(
        TenantId::parse("acme").unwrap(),
        Topic::parse("a").unwrap(),
        body,
    );
    let published = store::events::publish(&c, &e).await.unwrap();
    let stored: String = c
        .query_one(
            "SELECT data::text FROM outbound.events WHERE id = $1",
            &[&published.id.as_str()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stored, body,
        "key order, spacing and number spelling are kept"
    );
}

#[tokio::test]
async fn publish_defaults_and_returns_matched_destinations() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "b_all", &["*"], None).await;
    destination(&c, &acme, "a_created", &["user.created"], None).await;
    destination(&c, &acme, "c_other", &["user.deleted"], None).await;

    let row = c
        .query_one(
            "SELECT event_id, duplicate, destination_ids FROM outbound.publish('acme', 'user.created', '{\"a\":1}')",
            &[],
        )
        .await
        .unwrap();
    let id: String = row.get(0);
    assert!(!id.is_empty());
    assert!(!row.get::<_, bool>(1));
    assert_eq!(row.get::<_, Vec<String>>(2), ["a_created", "b_all"]);
    let ev = c
        .query_one(
            "SELECT eligible_for_retry, metadata::text, abs(extract(epoch FROM now() - time)) < 5
             FROM outbound.events WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert!(ev.get::<_, bool>(0));
    assert_eq!(ev.get::<_, String>(1), "{}");
    assert!(ev.get::<_, bool>(2));

    // Every option, through the store (what the API will call).
    let mut e = NewEvent::new(acme.clone(), Topic::parse("user.created").unwrap(), "{}");
    e.id = Some(EventId::parse("evt_1").unwrap());
    e.metadata = Some(serde_json::json!({"source": "crm"}));
    e.eligible_for_retry = false;
    e.destination_id = Some(DestinationId::parse("b_all").unwrap());
    let published = store::events::publish(&c, &e).await.unwrap();
    assert_eq!(published.id, "evt_1");
    assert_eq!(published.destination_ids, ["b_all"]);
    let retry: bool = c
        .query_one(
            "SELECT retry FROM outbound.deliveries WHERE event_id = 'evt_1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!retry, "eligible_for_retry=false travels to the queue row");

    // A forced destination that does not match the topic gets nothing.
    let mut e = NewEvent::new(acme, Topic::parse("user.created").unwrap(), "{}");
    e.destination_id = Some(DestinationId::parse("c_other").unwrap());
    assert!(store::events::publish(&c, &e)
        .await
        .unwrap()
        .destination_ids
        .is_empty());
}

fn event(tenant: &TenantId, id: Option<&str>, topic: &str, data: &str) -> NewEvent {
    let mut e = NewEvent::new(tenant.clone(), Topic::parse(topic).unwrap(), data);
    e.id = id.map(|i| EventId::parse(i).unwrap());
    e
}

#[tokio::test]
async fn a_batch_answers_each_event_as_a_single_publish_would() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "b_all", &["*"], None).await;
    destination(&c, &acme, "a_created", &["user.created"], None).await;
    store::events::publish(&c, &event(&acme, Some("old"), "user.created", "{}"))
        .await
        .unwrap();

    let mut forced = event(&acme, Some("forced"), "user.created", r#"{"f":1}"#);
    forced.destination_id = Some(DestinationId::parse("b_all").unwrap());
    forced.eligible_for_retry = false;
    forced.metadata = Some(serde_json::json!({"source": "crm"}));
    let batch = vec![
        event(&acme, Some("e1"), "user.created", r#"{"n": 1}"#),
        event(&acme, Some("old"), "user.created", "{}"),
        event(&acme, Some("e1"), "user.created", r#"{"n": "again"}"#),
        event(&acme, None, "user.deleted", r#"{"n":3}"#),
        forced,
    ];
    let out = store::events::publish_batch(&c, &batch).await.unwrap();
    let answers: Vec<(bool, Vec<String>)> = out
        .iter()
        .map(|p| {
            let ids = p.destination_ids.iter().map(|d| d.to_string()).collect();
            (p.duplicate, ids)
        })
        .collect();
    assert_eq!(
        answers,
        [
            (false, vec!["a_created".to_string(), "b_all".into()]),
            // Duplicates answer where the event went (Outpost's answer).
            (true, vec!["a_created".to_string(), "b_all".into()]),
            (true, vec!["a_created".to_string(), "b_all".into()]),
            (false, vec!["b_all".into()]),
            (false, vec!["b_all".into()]),
        ]
    );
    assert_eq!(out[0].id, "e1");
    assert_eq!(out[1].id, "old");
    assert_eq!(out[2].id, "e1");
    assert!(!out[3].id.as_str().is_empty(), "an id is generated");
    assert_eq!(out[4].id, "forced");

    // Each event once, as sent; the first of a repeated id wins.
    assert_eq!(count(&c, "SELECT count(*) FROM outbound.events").await, 4);
    let e1: String = c
        .query_one(
            "SELECT data::text FROM outbound.events WHERE id = 'e1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(e1, r#"{"n": 1}"#);
    let f = c
        .query_one(
            "SELECT e.metadata->>'source', d.retry FROM outbound.events e
             JOIN outbound.deliveries d ON d.event_id = e.id WHERE e.id = 'forced'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(f.get::<_, String>(0), "crm");
    assert!(!f.get::<_, bool>(1));
    assert_eq!(deliveries_of(&c, "e1").await, ["a_created", "b_all"]);
}

#[tokio::test]
async fn concurrent_publishes_share_statements_and_keep_their_own_outcomes() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "all", &["*"], None).await;
    let nobody = TenantId::parse("nobody").unwrap();
    let publisher = store::publisher::Publisher::new(db.pool.clone());

    // 400 publishes at once: every 10th repeats an earlier id, 8 name an
    // unknown tenant (which fails their batch, so the rest of that batch is
    // published one by one).
    let mut tasks = Vec::new();
    for i in 0..400 {
        let id = if i % 10 == 9 { i - 5 } else { i };
        let owner = if i % 50 == 47 { &nobody } else { &acme };
        let e = event(
            owner,
            Some(&format!("c{id}")),
            "bulk",
            &format!(r#"{{"i":{i}}}"#),
        );
        let p = publisher.clone();
        tasks.push(tokio::spawn(async move { (i, p.publish(e).await) }));
    }
    let mut accepted = std::collections::HashMap::new();
    for t in tasks {
        let (i, result) = t.await.unwrap();
        if i % 50 == 47 {
            assert!(
                matches!(result, Err(StoreError::MissingReference { .. })),
                "{i}: {result:?}"
            );
            continue;
        }
        let p = result.unwrap();
        assert_eq!(
            p.id.as_str(),
            format!("c{}", if i % 10 == 9 { i - 5 } else { i })
        );
        if !p.duplicate {
            assert_eq!(p.destination_ids, ["all"]);
            assert!(
                accepted.insert(p.id.clone(), i).is_none(),
                "{} accepted twice",
                p.id
            );
        }
    }
    // 360 distinct ids, less the 8 refused: each accepted exactly once (a
    // repeat may arrive first; either way one of the two is accepted).
    assert_eq!(accepted.len(), 352);
    assert_eq!(count(&c, "SELECT count(*) FROM outbound.events").await, 352);
    let queued = count(&c, "SELECT count(*) FROM outbound.deliveries").await;
    assert_eq!(queued, 352);
}

#[tokio::test]
async fn a_duplicate_of_a_delivered_event_answers_where_it_went() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = crate::helpers::receiver::TestReceiver::start().await;
    let acme = tenant(&c, "acme").await;
    crate::helpers::factory::webhook(
        &c,
        &acme,
        "sent",
        &["*"],
        &rx.url("/"),
        serde_json::json!({"secret": "s"}),
    )
    .await;
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('done', 'acme', 'a.b', '{}')",
        &[],
    )
    .await
    .unwrap();
    // Sent and recorded: its queued row is gone, its attempt is logged.
    let w = crate::helpers::app::worker(&db, |_| {}).await;
    w.run_once(chrono::Utc::now()).await.unwrap();
    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.deliveries").await,
        0
    );
    assert_eq!(count(&c, "SELECT count(*) FROM outbound.attempts").await, 1);

    let one: Vec<String> = c
        .query_one(
            "SELECT destination_ids FROM outbound.publish('acme', 'a.b', '{}', id => 'done')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(one, ["sent"], "publish()");
    let batch: Vec<(bool, Vec<String>)> = c
        .query(
            "SELECT duplicate, destination_ids FROM outbound.publish_batch(
                 ARRAY['acme', 'acme'], ARRAY['a.b', 'a.b'], ARRAY['{}', '{}'], ARRAY['done', 'new'],
                 ARRAY[NULL, NULL]::jsonb[], ARRAY[NULL, NULL]::timestamptz[],
                 ARRAY[NULL, NULL]::boolean[], ARRAY[NULL, NULL]::text[])
             ORDER BY n",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        batch,
        [
            (true, vec!["sent".to_string()]),
            (false, vec!["sent".to_string()])
        ],
        "publish_batch(): the duplicate where it went, the new event where it is queued"
    );
}
