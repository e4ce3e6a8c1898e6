//! Capturing an application's table changes as events
//! (`outbound.capture()`, docs/capturing.md): what the application's own
//! statements publish, what a receiver gets, what is refused.

use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::app::worker;
use crate::helpers::citus::CitusDb;
use crate::helpers::db::TestDb;
use crate::helpers::factory::{count, destination, tenant, webhook};
use crate::helpers::receiver::TestReceiver;

/// The application's table of the tests: its tenant is `account_id`.
const ORDERS: &str = "CREATE TABLE public.orders (
    id         int PRIMARY KEY,
    account_id text,
    status     text NOT NULL DEFAULT 'new',
    total      numeric(10, 2) NOT NULL,
    card_token text
)";

/// Two tenants, each with one destination for every topic.
async fn set_up(c: &deadpool_postgres::Object) {
    for t in ["acme", "globex"] {
        let id = tenant(c, t).await;
        destination(c, &id, &format!("all_{t}"), &["*"], None).await;
    }
    c.batch_execute(ORDERS).await.unwrap();
}

/// (tenant, topic, data) of every event, data parsed, in a stable order.
async fn events(c: &deadpool_postgres::Object) -> Vec<(String, String, Value)> {
    let mut all: Vec<(String, String, Value)> = c
        .query(
            "SELECT tenant_id, topic, data::text FROM outbound.events",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let data: String = r.get(2);
            (r.get(0), r.get(1), serde_json::from_str(&data).unwrap())
        })
        .collect();
    all.sort_by_key(|(t, topic, d)| (t.clone(), topic.clone(), d.to_string()));
    all
}

/// The message (and hint) of a database error.
fn message(e: &tokio_postgres::Error) -> String {
    let db = e
        .as_db_error()
        .unwrap_or_else(|| panic!("a database error: {e}"));
    format!("{} ({})", db.message(), db.hint().unwrap_or(""))
}

/// The message (and hint) of the error `sql` is refused with.
async fn refused(c: &deadpool_postgres::Object, sql: &str) -> String {
    let e = c
        .batch_execute(sql)
        .await
        .expect_err(&format!("refused: {sql}"));
    message(&e)
}

fn order(id: i64, account: &str, status: &str, total: f64, card: &str) -> Value {
    json!({"id": id, "account_id": account, "status": status, "total": total, "card_token": card})
}

#[tokio::test]
async fn a_captured_insert_reaches_the_receiver_when_the_application_commits() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    let acme = tenant(&c, "acme").await;
    webhook(
        &c,
        &acme,
        "des_orders",
        &["order.created"],
        &rx.url("/hooks"),
        json!({"secret": "whsec_capture"}),
    )
    .await;
    c.batch_execute(ORDERS).await.unwrap();
    let trigger: String = c
        .query_one(
            "SELECT outbound.capture('public.orders', 'order.created', tenant => 'account_id')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(trigger.starts_with("outbound_capture_insert_"), "{trigger}");

    let cancel = CancellationToken::new();
    let running = tokio::spawn(worker(&db, |_| {}).await.run(cancel.clone()));

    // The application's own transaction: nothing is published before it
    // commits, and its rolled-back insert never is.
    let mut app = db.connect().await;
    let tx = app.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO public.orders (id, account_id, total, card_token) VALUES (1, 'acme', 12.50, 'tok_1')",
        &[],
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    let tx = app.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO public.orders (id, account_id, total, card_token) VALUES (2, 'acme', 99.00, 'tok_2')",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.events").await,
        0,
        "not visible before the commit"
    );
    tx.commit().await.unwrap();

    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        body,
        json!({"new": order(2, "acme", "new", 99.0, "tok_2")}),
        "the row as inserted, under new"
    );
    assert_eq!(got[0].header("x-outpost-topic"), Some("order.created"));
    let expected = format!(
        "v0={}",
        crate::helpers::hmac_hex("whsec_capture", &got[0].body)
    );
    assert_eq!(
        got[0].header("x-outpost-signature"),
        Some(expected.as_str())
    );
    // Nothing else arrives: the rolled-back row was never an event.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 1);
    assert_eq!(count(&c, "SELECT count(*) FROM outbound.events").await, 1);
    cancel.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn a_rolled_back_savepoint_or_a_failed_commit_publishes_nothing() {
    let db = TestDb::new().await;
    let c = db.client().await;
    set_up(&c).await;
    // A deferred unique key: checked at COMMIT, after the capture ran.
    c.batch_execute(
        "ALTER TABLE public.orders ADD CONSTRAINT orders_card_unique UNIQUE (card_token)
             DEFERRABLE INITIALLY DEFERRED;
         SELECT outbound.capture('public.orders', 'order.created', tenant => 'account_id');",
    )
    .await
    .unwrap();

    let mut app = db.connect().await;
    let tx = app.transaction().await.unwrap();
    tx.batch_execute(
        "INSERT INTO public.orders (id, account_id, total, card_token) VALUES (1, 'acme', 1, 'same');
         INSERT INTO public.orders (id, account_id, total, card_token) VALUES (2, 'globex', 2, 'same');",
    )
    .await
    .unwrap();
    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.events").await,
        0,
        "nothing is visible before the commit"
    );
    let failed = tx
        .commit()
        .await
        .expect_err("the deferred key fails the commit");
    let failed = message(&failed);
    assert!(failed.contains("orders_card_unique"), "{failed}");
    assert_eq!(count(&c, "SELECT count(*) FROM outbound.events").await, 0);
    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.deliveries").await,
        0
    );

    let mut tx = app.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO public.orders (id, account_id, total) VALUES (1, 'acme', 1)",
        &[],
    )
    .await
    .unwrap();
    let sp = tx.savepoint("sp").await.unwrap();
    sp.execute(
        "INSERT INTO public.orders (id, account_id, total) VALUES (2, 'acme', 2)",
        &[],
    )
    .await
    .unwrap();
    sp.rollback().await.unwrap();
    tx.commit().await.unwrap();
    let got = events(&c).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].2["new"]["id"], 1);
    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.deliveries").await,
        1
    );
}

#[tokio::test]
async fn an_update_publishes_only_when_a_listed_column_changes() {
    let db = TestDb::new().await;
    let c = db.client().await;
    set_up(&c).await;
    c.batch_execute(
        "INSERT INTO public.orders (id, account_id, total, card_token) VALUES
             (1, 'acme', 10, 't1'), (2, 'acme', 20, 't2'), (3, 'globex', 30, 't3'), (4, 'acme', 40, 't4');
         SELECT outbound.capture('public.orders', 'order.status_changed', tenant => 'account_id',
                                 operation => 'update', columns => '{status}');",
    )
    .await
    .unwrap();

    // Columns not listed, and a listed one set to the value it had.
    c.batch_execute(
        "UPDATE public.orders SET total = total + 1;
         UPDATE public.orders SET status = 'new' WHERE id = 1;",
    )
    .await
    .unwrap();
    assert_eq!(events(&c).await, []);

    // One statement changing three rows: each event pairs a row's own old
    // and new values.
    c.batch_execute("UPDATE public.orders SET status = 'paid', total = total * 2 WHERE id <= 3")
        .await
        .unwrap();
    let got = events(&c).await;
    let mut expected = vec![
        (
            "acme".to_string(),
            "order.status_changed".to_string(),
            json!({"old": order(1, "acme", "new", 11.0, "t1"), "new": order(1, "acme", "paid", 22.0, "t1")}),
        ),
        (
            "acme".to_string(),
            "order.status_changed".to_string(),
            json!({"old": order(2, "acme", "new", 21.0, "t2"), "new": order(2, "acme", "paid", 42.0, "t2")}),
        ),
        (
            "globex".to_string(),
            "order.status_changed".to_string(),
            json!({"old": order(3, "globex", "new", 31.0, "t3"), "new": order(3, "globex", "paid", 62.0, "t3")}),
        ),
    ];
    expected.sort_by_key(|(t, topic, d)| (t.clone(), topic.clone(), d.to_string()));
    assert_eq!(got, expected);

    // A row moved to another tenant publishes nothing: its old values
    // are the first tenant's.
    c.batch_execute(
        "UPDATE public.orders SET status = 'moved', account_id = 'globex' WHERE id = 4",
    )
    .await
    .unwrap();
    assert_eq!(events(&c).await.len(), 3);

    // Without a column list every updated row publishes.
    c.batch_execute(
        "SELECT outbound.capture('public.orders', 'order.updated', tenant => 'account_id',
                                 operation => 'update');
         UPDATE public.orders SET total = total WHERE id = 1;",
    )
    .await
    .unwrap();
    let got = events(&c).await;
    assert_eq!(got.len(), 4);
    assert!(got
        .iter()
        .any(|(t, topic, d)| t == "acme" && topic == "order.updated" && d["new"]["id"] == 1));
}

#[tokio::test]
async fn a_delete_publishes_the_old_row_to_its_tenant() {
    let db = TestDb::new().await;
    let c = db.client().await;
    set_up(&c).await;
    c.batch_execute(
        "INSERT INTO public.orders (id, account_id, total, card_token) VALUES
             (1, 'acme', 10, 't1'), (2, 'globex', 20, 't2'), (3, 'acme', 30, 't3');
         SELECT outbound.capture('public.orders', 'order.deleted', tenant => 'account_id',
                                 operation => 'delete');
         DELETE FROM public.orders WHERE id IN (1, 2);",
    )
    .await
    .unwrap();
    assert_eq!(
        events(&c).await,
        [
            (
                "acme".to_string(),
                "order.deleted".to_string(),
                json!({"old": order(1, "acme", "new", 10.0, "t1")})
            ),
            (
                "globex".to_string(),
                "order.deleted".to_string(),
                json!({"old": order(2, "globex", "new", 20.0, "t2")})
            ),
        ]
    );
    let queued: Vec<(String, String)> = c
        .query(
            "SELECT d.tenant_id, d.destination_id FROM outbound.deliveries d ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        queued,
        [
            ("acme".to_string(), "all_acme".to_string()),
            ("globex".to_string(), "all_globex".to_string())
        ]
    );
}

#[tokio::test]
async fn a_projection_keeps_what_it_leaves_out_in_the_database() {
    let db = TestDb::new().await;
    let c = db.client().await;
    set_up(&c).await;
    c.batch_execute(
        "SELECT outbound.capture('public.orders', 'order.created', tenant => 'account_id',
                                 fields => '{id,total,status}');
         SELECT outbound.capture('public.orders', 'order.status', tenant => 'account_id',
                                 operation => 'update', columns => '{status}', fields => '{id,status}');
         SELECT outbound.capture('public.orders', 'order.deleted', tenant => 'account_id',
                                 operation => 'delete',
                                 data => 'json_build_object(''order'', old.id, ''refund'', old.total)');
         SELECT outbound.capture('public.orders', 'order.audit', tenant => 'account_id',
                                 data => 'to_jsonb(new) - ''card_token''');
         INSERT INTO public.orders (id, account_id, total, card_token) VALUES (1, 'acme', 10, 'secret_1');
         UPDATE public.orders SET status = 'paid';
         DELETE FROM public.orders;",
    )
    .await
    .unwrap();
    let got = events(&c).await;
    let by_topic = |topic: &str| {
        got.iter()
            .find(|(_, t, _)| t == topic)
            .map(|(_, _, d)| d.clone())
            .unwrap_or_else(|| panic!("{topic} in {got:?}"))
    };
    assert_eq!(
        by_topic("order.created"),
        json!({"new": {"id": 1, "total": 10.0, "status": "new"}})
    );
    assert_eq!(
        by_topic("order.status"),
        json!({"old": {"id": 1, "status": "new"}, "new": {"id": 1, "status": "paid"}})
    );
    assert_eq!(
        by_topic("order.deleted"),
        json!({"order": 1, "refund": 10.0})
    );
    assert_eq!(
        by_topic("order.audit"),
        json!({"id": 1, "account_id": "acme", "status": "new", "total": 10.0})
    );
    let texts: Vec<String> = c
        .query("SELECT data::text FROM outbound.events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(texts.len(), 4);
    assert!(
        texts.iter().all(|t| !t.contains("secret_1")),
        "the card token never leaves: {texts:?}"
    );
}

#[tokio::test]
async fn a_condition_selects_the_rows_that_publish() {
    let db = TestDb::new().await;
    let c = db.client().await;
    set_up(&c).await;
    c.batch_execute(
        "CREATE TABLE public.vip (account_id text PRIMARY KEY);
         INSERT INTO public.vip VALUES ('globex');
         SELECT outbound.capture('public.orders', 'order.large', tenant => 'account_id',
                                 condition => 'new.total >= 100');
         SELECT outbound.capture('public.orders', 'order.vip', tenant => 'account_id',
                                 condition => 'EXISTS (SELECT 1 FROM public.vip v WHERE v.account_id = new.account_id)');
         SELECT outbound.capture('public.orders', 'order.paid', tenant => 'account_id',
                                 operation => 'update',
                                 condition => 'old.status <> ''paid'' AND new.status = ''paid''');
         INSERT INTO public.orders (id, account_id, total) VALUES
             (1, 'acme', 5), (2, 'acme', 500), (3, 'globex', 7);
         UPDATE public.orders SET status = 'paid' WHERE id IN (1, 3);
         UPDATE public.orders SET status = 'paid';",
    )
    .await
    .unwrap();
    let got: Vec<(String, String, Value)> = events(&c)
        .await
        .into_iter()
        .map(|(t, topic, d)| (t, topic, d["new"]["id"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("acme".to_string(), "order.large".to_string(), json!(2)),
            ("acme".to_string(), "order.paid".to_string(), json!(1)),
            ("acme".to_string(), "order.paid".to_string(), json!(2)),
            ("globex".to_string(), "order.paid".to_string(), json!(3)),
            ("globex".to_string(), "order.vip".to_string(), json!(3)),
        ]
    );
}

#[tokio::test]
async fn a_multi_row_insert_and_copy_publish_every_row_in_one_fan_out() {
    let db = TestDb::new().await;
    let c = db.client().await;
    set_up(&c).await;
    c.batch_execute(
        "SELECT outbound.capture('public.orders', 'order.created', tenant => 'account_id')",
    )
    .await
    .unwrap();

    // 1,000 rows in one INSERT … SELECT: one run of the capture's trigger
    // and one of the fan-out (function calls counted for this transaction).
    let mut app = db.connect().await;
    let tx = app.transaction().await.unwrap();
    tx.batch_execute(
        "SET LOCAL track_functions = 'pl';
         INSERT INTO public.orders (id, account_id, total)
         SELECT g, CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'globex' END, g FROM generate_series(1, 1000) g",
    )
    .await
    .unwrap();
    let calls: Vec<(String, i64)> = tx
        .query(
            "SELECT funcname::text, calls FROM pg_stat_xact_user_functions
             WHERE schemaname = 'outbound' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].0.starts_with("capture_insert_"), "{calls:?}");
    assert_eq!(calls[0].1, 1);
    assert_eq!(calls[1], ("fan_out".to_string(), 1));
    tx.commit().await.unwrap();

    // A multi-row VALUES, and COPY.
    c.batch_execute(
        "INSERT INTO public.orders (id, account_id, total) VALUES (1001, 'acme', 1), (1002, 'globex', 2)",
    )
    .await
    .unwrap();
    let copy = c
        .copy_in("COPY public.orders (id, account_id, total) FROM STDIN")
        .await
        .unwrap();
    futures_util::pin_mut!(copy);
    futures_util::SinkExt::send(
        &mut copy,
        hyper::body::Bytes::from("2001\tacme\t3.50\n2002\tglobex\t4\n2003\tacme\t5\n"),
    )
    .await
    .unwrap();
    assert_eq!(copy.finish().await.unwrap(), 3);

    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.events").await,
        1005
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.deliveries").await,
        1005
    );
    // Every row once, with its own values, to its own tenant.
    assert_eq!(
        count(
            &c,
            "SELECT count(DISTINCT (e.data::jsonb -> 'new' ->> 'id')::int) FROM outbound.events e
             JOIN public.orders o ON o.id = (e.data::jsonb -> 'new' ->> 'id')::int
             WHERE e.tenant_id = o.account_id AND (e.data::jsonb -> 'new' ->> 'total')::numeric = o.total"
        )
        .await,
        1005
    );
    let copied = events(&c)
        .await
        .into_iter()
        .find(|(_, _, d)| d["new"]["id"] == 2001)
        .unwrap();
    assert_eq!(
        copied,
        (
            "acme".to_string(),
            "order.created".to_string(),
            json!({"new": {"id": 2001, "account_id": "acme", "status": "new", "total": 3.5, "card_token": null}})
        )
    );
}

#[tokio::test]
async fn rows_of_unknown_tenants_are_skipped_or_refused_as_asked() {
    let db = TestDb::new().await;
    let c = db.client().await;
    set_up(&c).await;

    // Skipped (the default): the application's insert succeeds, and the
    // rows of known tenants in it publish.
    c.batch_execute(
        "SELECT outbound.capture('public.orders', 'order.created', tenant => 'account_id');
         INSERT INTO public.orders (id, account_id, total) VALUES
             (1, 'acme', 1), (2, 'nobody', 2), (3, NULL, 3), (4, 'has space', 4);",
    )
    .await
    .unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM public.orders").await, 4);
    let got = events(&c).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].2["new"]["id"], 1);

    // Refused: the application's statement fails, naming the cause, and
    // none of its rows is written.
    c.batch_execute(
        "SELECT outbound.capture('public.orders', 'order.created', tenant => 'account_id',
                                 unknown_tenant => 'error')",
    )
    .await
    .unwrap();
    let e = refused(
        &c,
        "INSERT INTO public.orders (id, account_id, total) VALUES (5, 'acme', 5), (6, NULL, 6)",
    )
    .await;
    assert!(
        e.contains("the insert capture of public.orders (topic \"order.created\") refuses a row whose tenant column account_id is NULL"),
        "{e}"
    );
    let e = refused(
        &c,
        "INSERT INTO public.orders (id, account_id, total) VALUES (7, 'acme', 7), (8, 'nobody', 8)",
    )
    .await;
    assert!(e.contains("tenant \"nobody\" does not exist"), "{e}");
    assert_eq!(count(&c, "SELECT count(*) FROM public.orders").await, 4);
    assert_eq!(events(&c).await.len(), 1);

    // An update capture alike; a row its condition leaves out is never
    // refused, whatever its tenant.
    c.batch_execute(
        "SELECT outbound.capture('public.orders', 'order.updated', tenant => 'account_id',
                                 operation => 'update', condition => 'new.total > 100',
                                 unknown_tenant => 'error');
         UPDATE public.orders SET total = 5 WHERE id IN (2, 3);",
    )
    .await
    .unwrap();
    let e = refused(&c, "UPDATE public.orders SET total = 500 WHERE id = 3").await;
    assert!(
        e.contains("the update capture of public.orders (topic \"order.updated\") refuses a row whose tenant column account_id is NULL"),
        "{e}"
    );
    let e = refused(&c, "UPDATE public.orders SET total = 500 WHERE id = 2").await;
    assert!(e.contains("tenant \"nobody\" does not exist"), "{e}");
    c.batch_execute("UPDATE public.orders SET total = 500 WHERE id = 1")
        .await
        .unwrap();
    let topics: Vec<String> = events(&c).await.into_iter().map(|e| e.1).collect();
    assert_eq!(topics, ["order.created", "order.updated"]);
}

#[tokio::test]
async fn a_captured_event_meets_the_checks_of_any_event() {
    let db = TestDb::new().await;
    let c = db.client().await;
    set_up(&c).await;
    c.batch_execute(
        "ALTER TABLE public.orders ADD COLUMN doc jsonb;
         SELECT outbound.capture('public.orders', 'order.created', tenant => 'account_id');
         SELECT outbound.capture('public.orders', 'order.total', tenant => 'account_id',
                                 operation => 'update', data => 'to_json(new.total)');
         INSERT INTO public.orders (id, account_id, total) VALUES (1, 'acme', 1);",
    )
    .await
    .unwrap();
    // Data nested deeper than 128 levels, as the fan-out refuses it.
    let deep = format!("{}1{}", "[".repeat(130), "]".repeat(130));
    let e = refused(
        &c,
        &format!(
            "INSERT INTO public.orders (id, account_id, total, doc) VALUES (2, 'acme', 2, '{deep}')"
        ),
    )
    .await;
    assert!(e.contains("nested deeper than 128 levels"), "{e}");
    // Data that is not a JSON object.
    let e = refused(&c, "UPDATE public.orders SET total = 2").await;
    assert!(e.contains("events_data_object"), "{e}");
    assert_eq!(events(&c).await.len(), 1);
}

#[tokio::test]
async fn capture_refuses_what_cannot_work_and_says_why() {
    let db = TestDb::new().await;
    let c = db.client().await;
    set_up(&c).await;
    c.batch_execute(
        "CREATE TABLE public.notes (id int, body text);
         CREATE VIEW public.orders_view AS SELECT * FROM public.orders;",
    )
    .await
    .unwrap();
    let cases = [
        (
            "SELECT outbound.capture('public.notes', 'note.created')",
            "public.notes has no column tenant_id to take the tenant from (name the column that holds the tenant id with tenant => '…'; the columns of public.notes: id, body)",
        ),
        (
            "SELECT outbound.capture('public.orders', 'order.created', tenant => 'tenant')",
            "public.orders has no column tenant to take the tenant from",
        ),
        (
            "SELECT outbound.capture('public.nothing', 'x')",
            "relation \"public.nothing\" does not exist",
        ),
        (
            "SELECT outbound.capture('public.orders_view', 'x', tenant => 'account_id')",
            "public.orders_view is not a table",
        ),
        (
            "SELECT outbound.capture('outbound.events', 'x')",
            "outbound.events is one of outbound's own tables",
        ),
        (
            "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id', operation => 'upsert')",
            "operation must be insert, update or delete, not 'upsert'",
        ),
        (
            "SELECT outbound.capture('public.orders', 'order created', tenant => 'account_id')",
            "contains whitespace or control characters",
        ),
        (
            "SELECT outbound.capture('public.orders', 'order.*', tenant => 'account_id')",
            "contains '*'",
        ),
        (
            "SELECT outbound.capture('public.orders', '', tenant => 'account_id')",
            "a capture needs a topic",
        ),
        (
            "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id', columns => '{status}')",
            "columns => applies to update captures",
        ),
        (
            "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id', operation => 'update',
                                     columns => '{status,state}')",
            "public.orders has no column state (the columns of public.orders: id, account_id, status, total, card_token)",
        ),
        (
            "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id', fields => '{id,amount}')",
            "public.orders has no column amount",
        ),
        (
            "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id', fields => '{id}',
                                     data => 'row_to_json(new)')",
            "give fields => (the columns old and new carry) or data => (the whole data), not both",
        ),
        (
            "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id', condition => 'new.totl > 1')",
            "the condition of the insert capture of public.orders (topic \"x\") does not compile: column new.totl does not exist",
        ),
        (
            "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id', condition => 'new.total')",
            "does not compile: argument of WHERE must be type boolean, not type numeric",
        ),
        (
            "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id', condition => 'old.total > 1')",
            "does not compile: missing FROM-clause entry for table \"old\"",
        ),
        (
            "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id', data => 'new.total')",
            "the data of the insert capture of public.orders (topic \"x\") does not compile: cannot cast type numeric to json",
        ),
        (
            "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id', data => 'json_build_object(''a'', new.id')",
            "the data of the insert capture of public.orders (topic \"x\") does not compile: syntax error",
        ),
        (
            "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id', unknown_tenant => 'ignore')",
            "unknown_tenant must be skip or error, not 'ignore'",
        ),
        (
            "SELECT outbound.uncapture('public.orders', 'x')",
            "no capture of public.orders with topic 'x'",
        ),
    ];
    for (sql, expected) in cases {
        let e = refused(&c, sql).await;
        assert!(e.contains(expected), "{sql}\n  refused with: {e}");
    }

    // A text of several statements is refused without running any of it.
    let e = refused(
        &c,
        "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id',
                                 condition => 'true); DROP TABLE public.notes; SELECT (true')",
    )
    .await;
    assert!(e.contains("does not compile"), "{e}");
    let e = refused(
        &c,
        "SELECT outbound.capture('public.orders', 'x', tenant => 'account_id',
                                 data => '''{}''::json) FROM public.orders; DROP TABLE public.notes; SELECT (''{}''')",
    )
    .await;
    assert!(e.contains("does not compile"), "{e}");
    assert_eq!(count(&c, "SELECT count(*) FROM public.notes").await, 0);
    assert_eq!(count(&c, "SELECT count(*) FROM outbound.captures").await, 0);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.orders'::regclass"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn odd_names_are_quoted_everywhere() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "all", &["*"], None).await;
    c.batch_execute(
        r#"CREATE SCHEMA "Sales ""EU""";
           CREATE TABLE "Sales ""EU"""."Order Lines; DROP TABLE x" (
               "Line Id" int,
               "Tenant-Id" text,
               "a%s" text,
               "select" text,
               "Quote'd" text
           );"#,
    )
    .await
    .unwrap();
    let rel = r#""Sales ""EU"""."Order Lines; DROP TABLE x""#;
    c.execute(
        "SELECT outbound.capture($1::text::regclass, 'line.added', tenant => 'Tenant-Id',
                                 fields => '{Line Id,a%s,select,Quote''d}',
                                 condition => 'new.\"select\" IS DISTINCT FROM ''no''')",
        &[&rel],
    )
    .await
    .unwrap();
    c.execute(
        "SELECT outbound.capture($1::text::regclass, 'line.changed', tenant => 'Tenant-Id', operation => 'update',
                                 columns => '{a%s,Quote''d}')",
        &[&rel],
    )
    .await
    .unwrap();
    c.batch_execute(
        r#"INSERT INTO "Sales ""EU"""."Order Lines; DROP TABLE x" VALUES
               (1, 'acme', '%s%1$s', 'yes', 'it''s'), (2, 'acme', 'b', 'no', 'c');
           UPDATE "Sales ""EU"""."Order Lines; DROP TABLE x" SET "Quote'd" = 'changed' WHERE "Line Id" = 1;"#,
    )
    .await
    .unwrap();
    let got = events(&c).await;
    assert_eq!(
        got,
        [
            (
                "acme".to_string(),
                "line.added".to_string(),
                json!({"new": {"Line Id": 1, "a%s": "%s%1$s", "select": "yes", "Quote'd": "it's"}})
            ),
            (
                "acme".to_string(),
                "line.changed".to_string(),
                json!({
                    "old": {"Line Id": 1, "Tenant-Id": "acme", "a%s": "%s%1$s", "select": "yes", "Quote'd": "it's"},
                    "new": {"Line Id": 1, "Tenant-Id": "acme", "a%s": "%s%1$s", "select": "yes", "Quote'd": "changed"}
                })
            ),
        ]
    );
    let listed: Vec<String> = c
        .query(
            "SELECT relation::text FROM outbound.capture_list WHERE active ORDER BY topic",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(listed, [rel, rel]);
    let removed: i32 = c
        .query_one("SELECT outbound.uncapture($1::text::regclass)", &[&rel])
        .await
        .unwrap()
        .get(0);
    assert_eq!(removed, 2);
}

#[tokio::test]
async fn recapturing_replaces_and_uncapture_removes_trigger_function_and_row() {
    let db = TestDb::new().await;
    let c = db.client().await;
    set_up(&c).await;
    let triggers = "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.orders'::regclass";
    let functions = "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = 'outbound' AND p.proname ~ '^capture_(insert|update|delete)_[0-9a-f]{12}$'";

    c.batch_execute(
        "SELECT outbound.capture('public.orders', 'order.created', tenant => 'account_id',
                                 condition => 'new.total > 10');
         SELECT outbound.capture('public.orders', 'order.created', tenant => 'account_id',
                                 condition => 'new.total > 100');
         SELECT outbound.capture('public.orders', 'order.deleted', tenant => 'account_id',
                                 operation => 'delete');",
    )
    .await
    .unwrap();
    assert_eq!(count(&c, triggers).await, 2, "replaced, not added");
    assert_eq!(count(&c, functions).await, 2);
    let listed: Vec<(String, String, String, Option<String>, bool)> = c
        .query(
            "SELECT relation::text, operation, topic, condition, active
             FROM outbound.capture_list ORDER BY operation",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "orders".to_string(),
                "delete".to_string(),
                "order.deleted".to_string(),
                None,
                true
            ),
            (
                "orders".to_string(),
                "insert".to_string(),
                "order.created".to_string(),
                Some("new.total > 100".to_string()),
                true
            ),
        ]
    );
    c.batch_execute(
        "INSERT INTO public.orders (id, account_id, total) VALUES (1, 'acme', 50), (2, 'acme', 500)",
    )
    .await
    .unwrap();
    let got = events(&c).await;
    assert_eq!(got.len(), 1, "the replacing condition applies: {got:?}");
    assert_eq!(got[0].2["new"]["id"], 2);

    let removed: i32 = c
        .query_one(
            "SELECT outbound.uncapture('public.orders', operation => 'insert')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(removed, 1);
    assert_eq!(count(&c, triggers).await, 1);
    assert_eq!(count(&c, functions).await, 1);
    c.batch_execute("INSERT INTO public.orders (id, account_id, total) VALUES (3, 'acme', 900)")
        .await
        .unwrap();
    assert_eq!(events(&c).await.len(), 1, "no longer captured");
    let none: i32 = c
        .query_one(
            "SELECT outbound.uncapture('public.orders', 'order.created', missing_ok => true)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(none, 0);

    // A dropped table takes its trigger; the view shows the capture
    // inactive, and uncapture clears what is left.
    c.batch_execute("DROP TABLE public.orders").await.unwrap();
    let active: bool = c
        .query_one("SELECT active FROM outbound.capture_list", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!active);
    let removed: i32 = c
        .query_one(
            "SELECT outbound.uncapture(relation) FROM outbound.capture_list WHERE NOT active",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(removed, 1);
    assert_eq!(count(&c, functions).await, 0);
    assert_eq!(count(&c, "SELECT count(*) FROM outbound.captures").await, 0);
}

#[tokio::test]
async fn the_applications_role_needs_no_privilege_on_outbound() {
    let db = TestDb::new().await;
    let c = db.client().await;
    set_up(&c).await;
    // Roles belong to the cluster: one of this test's database's own.
    let role = format!("app_{}", db.name);
    c.batch_execute(&format!(
        "CREATE ROLE {role};
         GRANT USAGE ON SCHEMA public TO {role};
         GRANT SELECT, INSERT, UPDATE ON public.orders TO {role};
         SELECT outbound.capture('public.orders', 'order.created', tenant => 'account_id');
         SELECT outbound.capture('public.orders', 'order.updated', tenant => 'account_id',
                                 operation => 'update');"
    ))
    .await
    .unwrap();
    let mut app = db.connect().await;
    let tx = app.transaction().await.unwrap();
    tx.batch_execute(&format!("SET LOCAL ROLE {role}"))
        .await
        .unwrap();
    let denied = tx
        .batch_execute(
            "INSERT INTO outbound.events (tenant_id, topic, data) VALUES ('acme', 'x', '{}')",
        )
        .await
        .expect_err("the role may not publish itself");
    let denied = message(&denied);
    assert!(denied.contains("permission denied"), "{denied}");
    tx.rollback().await.unwrap();
    let tx = app.transaction().await.unwrap();
    tx.batch_execute(&format!(
        "SET LOCAL ROLE {role};
         INSERT INTO public.orders (id, account_id, total) VALUES (1, 'acme', 1);
         UPDATE public.orders SET total = 2;"
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let topics: Vec<String> = events(&c).await.into_iter().map(|e| e.1).collect();
    assert_eq!(topics, ["order.created", "order.updated"]);
    c.batch_execute(&format!(
        "REVOKE ALL ON public.orders FROM {role}; REVOKE ALL ON SCHEMA public FROM {role}; DROP ROLE {role}"
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn a_partitioned_table_is_captured_through_its_parent() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "all", &["*"], None).await;
    c.batch_execute(
        "CREATE TABLE public.ledger (tenant_id text, day date, amount int) PARTITION BY RANGE (day);
         CREATE TABLE public.ledger_2026 PARTITION OF public.ledger
             FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
         CREATE TABLE public.ledger_2027 PARTITION OF public.ledger
             FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
         SELECT outbound.capture('public.ledger', 'ledger.entry');
         SELECT outbound.capture('public.ledger', 'ledger.changed', operation => 'update');
         INSERT INTO public.ledger VALUES ('acme', '2026-05-01', 1), ('acme', '2027-05-01', 2);",
    )
    .await
    .unwrap();
    let got = events(&c).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].2["new"]["amount"], 1);
    assert_eq!(got[1].2["new"]["amount"], 2);

    // As documented: an insert addressed to a partition is not seen by the
    // parent's statement trigger; an update is, through either; an update
    // moving a row to another partition publishes nothing.
    c.batch_execute(
        "INSERT INTO public.ledger_2026 VALUES ('acme', '2026-06-01', 3);
         UPDATE public.ledger_2026 SET amount = 10 WHERE amount = 1;
         UPDATE public.ledger SET amount = 20 WHERE amount = 2;
         UPDATE public.ledger SET day = '2027-06-01' WHERE amount = 3;",
    )
    .await
    .unwrap();
    let changed: Vec<(Value, Value)> = events(&c)
        .await
        .into_iter()
        .filter(|(_, topic, _)| topic == "ledger.changed")
        .map(|(_, _, d)| (d["old"]["amount"].clone(), d["new"]["amount"].clone()))
        .collect();
    assert_eq!(changed, [(json!(1), json!(10)), (json!(2), json!(20))]);
    assert_eq!(events(&c).await.len(), 4);
}

/// On Citus: a table distributed by its tenant, co-located with outbound's
/// tables, is captured on each worker node for the tenants it holds; a
/// table of the coordinator's own is captured there; other Citus tables
/// are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_citus_a_co_located_table_is_captured_on_the_node_of_each_tenant() {
    let Some(cdb) = CitusDb::new().await else {
        return;
    };
    let db = &cdb.db;
    let c = db.client().await;
    let ports: Vec<u16> = cdb.cluster.nodes[1..].iter().map(|n| n.port()).collect();
    let a = cdb.tenants_on(ports[0], "shop", 1).await.remove(0);
    let b = cdb.tenants_on(ports[1], "shop", 1).await.remove(0);
    for t in [&a, &b] {
        let id = tenant(&c, t).await;
        destination(&c, &id, "all", &["*"], None).await;
    }
    c.batch_execute(&format!(
        "CREATE TABLE public.orders (tenant_id text, id int, status text NOT NULL DEFAULT 'new',
                                     total int, PRIMARY KEY (tenant_id, id));
         {}",
        outbound::store::citus::COLOCATE_HINT
    ))
    .await
    .unwrap();
    // (In a transaction of its own: Citus refuses to change a function
    // where the transaction has already written shards in parallel.)
    c.batch_execute(
        "SELECT outbound.capture('public.orders', 'order.created');
         SELECT outbound.capture('public.orders', 'order.status', operation => 'update',
                                 columns => '{status}');
         SELECT outbound.capture('public.orders', 'order.deleted', operation => 'delete',
                                 condition => 'old.total > 10', fields => '{id}');",
    )
    .await
    .unwrap();

    // One transaction on both worker nodes (committed with 2PC), with a
    // row of a tenant outbound does not have (skipped).
    let mut app = db.connect().await;
    let tx = app.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO public.orders (tenant_id, id, total) VALUES ($1, 1, 5), ($2, 1, 50), ('nobody', 1, 1)",
        &[&a, &b],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Rolled back: nothing.
    let tx = app.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO public.orders (tenant_id, id, total) VALUES ($1, 9, 9), ($2, 9, 9)",
        &[&a, &b],
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    // COPY, an update of both tenants' rows (one changes no listed
    // column), a delete.
    let copy = c
        .copy_in("COPY public.orders (tenant_id, id, total) FROM STDIN")
        .await
        .unwrap();
    futures_util::pin_mut!(copy);
    futures_util::SinkExt::send(
        &mut copy,
        hyper::body::Bytes::from(format!("{a}\t2\t20\n{b}\t2\t2\n")),
    )
    .await
    .unwrap();
    copy.finish().await.unwrap();
    c.batch_execute(
        "UPDATE public.orders SET status = 'paid' WHERE id = 1;
         UPDATE public.orders SET total = total + 1 WHERE id = 2;
         DELETE FROM public.orders WHERE id = 2;",
    )
    .await
    .unwrap();

    let order = |t: &str, id: i64, status: &str, total: i64| json!({"tenant_id": t, "id": id, "status": status, "total": total});
    let ev = |t: &str, topic: &str, data: Value| (t.to_string(), topic.to_string(), data);
    let mut expected = vec![
        ev(&a, "order.created", json!({"new": order(&a, 1, "new", 5)})),
        ev(&b, "order.created", json!({"new": order(&b, 1, "new", 50)})),
        ev(&a, "order.created", json!({"new": order(&a, 2, "new", 20)})),
        ev(&b, "order.created", json!({"new": order(&b, 2, "new", 2)})),
        ev(
            &a,
            "order.status",
            json!({"old": order(&a, 1, "new", 5), "new": order(&a, 1, "paid", 5)}),
        ),
        ev(
            &b,
            "order.status",
            json!({"old": order(&b, 1, "new", 50), "new": order(&b, 1, "paid", 50)}),
        ),
        ev(&a, "order.deleted", json!({"old": {"id": 2}})),
    ];
    expected.sort_by_key(|(t, topic, d)| (t.clone(), topic.clone(), d.to_string()));
    assert_eq!(events(&c).await, expected);
    assert_eq!(
        count(&c, "SELECT count(*) FROM outbound.deliveries").await,
        7,
        "each event queued for its tenant's destination"
    );

    // Replaced (the functions on the worker nodes too), then removed.
    c.batch_execute(
        "SELECT outbound.capture('public.orders', 'order.created', condition => 'new.total >= 100')",
    )
    .await
    .unwrap();
    c.execute(
        "INSERT INTO public.orders (tenant_id, id, total) VALUES ($1, 3, 1), ($2, 3, 100)",
        &[&a, &b],
    )
    .await
    .unwrap();
    let created: Vec<(String, Value)> = events(&c)
        .await
        .into_iter()
        .filter(|(_, topic, d)| topic == "order.created" && d["new"]["id"] == 3)
        .map(|(t, _, d)| (t, d["new"]["total"].clone()))
        .collect();
    assert_eq!(created, [(b.clone(), json!(100))]);
    c.batch_execute("SELECT outbound.uncapture('public.orders')")
        .await
        .unwrap();
    c.execute(
        "INSERT INTO public.orders (tenant_id, id, total) VALUES ($1, 4, 1000), ($2, 4, 1000)",
        &[&a, &b],
    )
    .await
    .unwrap();
    assert_eq!(events(&c).await.len(), 8, "nothing once uncaptured");

    // A table of the coordinator's own publishes through the coordinator.
    c.batch_execute(
        "CREATE TABLE public.notes (tenant_id text, body text);
         SELECT outbound.capture('public.notes', 'note.added');",
    )
    .await
    .unwrap();
    c.execute(
        "INSERT INTO public.notes VALUES ($1, 'x'), ($2, 'y'), ('nobody', 'z')",
        &[&a, &b],
    )
    .await
    .unwrap();
    let notes = events(&c)
        .await
        .into_iter()
        .filter(|(_, topic, _)| topic == "note.added")
        .count();
    assert_eq!(notes, 2);

    // Tables whose shards are not co-located with their tenants' are refused.
    c.batch_execute(
        "CREATE TABLE public.codes (tenant_id text, code text);
         SELECT create_reference_table('public.codes');
         CREATE TABLE public.lines (tenant_id text, id text);
         SELECT create_distributed_table('public.lines', 'id', colocate_with => 'outbound.tenants');",
    )
    .await
    .unwrap();
    let e = refused(&c, "SELECT outbound.capture('public.codes', 'x')").await;
    assert!(e.contains("public.codes is a Citus reference table"), "{e}");
    let e = refused(&c, "SELECT outbound.capture('public.lines', 'x')").await;
    assert!(
        e.contains("public.lines is distributed by Citus by its column id, not by its tenant column tenant_id"),
        "{e}"
    );
}
