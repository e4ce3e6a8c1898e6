//! Operator events on the queue sinks (SQS, Pub/Sub, RabbitMQ): a
//! destination disabled by its failures makes `alert.destination.disabled`
//! arrive on a real queue — moto's SQS, a RabbitMQ broker, a loopback
//! stand-in for Google — as the envelope JSON, without credentials; a sink
//! that is down keeps the event until it is back.

use std::time::Duration;

use chrono::Utc;
use outbound::app::Parts;
use outbound::config::Settings;
use outbound::delivery::operator_events::OperatorEventSender;
use outbound::delivery::worker::Worker;
use outbound::domain::operator_event::OperatorTopics;
use serde_json::Value;

use crate::destinations::gcp_pubsub::{Google, EMAIL};
use crate::helpers::app::build;
use crate::helpers::db::TestDb;
use crate::helpers::moto::{self, moto};
use crate::helpers::rabbitmq::{self, PASSWORD, USER};
use crate::helpers::receiver::{Reply, TestReceiver};
use crate::operator_events::{
    assert_destination_projection, data_keys, flaky, outbox_len, publish, soon, HEADER_SECRET,
    SECRET,
};

/// The sink part of the settings, parsed from the flags an operator would
/// set (so the queue settings go through the same rules as in production).
fn sink_settings(flags: &[&str]) -> outbound::destinations::QueueSink {
    let mut args = vec!["--operator-events-topics", "alert.destination.disabled"];
    args.extend_from_slice(flags);
    Settings::from_args(args)
        .unwrap_or_else(|e| panic!("{e}"))
        .operator_events
        .queue
        .expect("a queue sink")
}

/// The worker and the operator-event sender of the service as built, with
/// `queue` as the sink and destinations disabled at their first failure.
async fn service(
    db: &TestDb,
    queue: outbound::destinations::QueueSink,
    deployment: Option<&str>,
) -> (Worker, OperatorEventSender) {
    let none = Parts {
        api: false,
        worker: false,
        maintenance: false,
    };
    let app = build(db, none, |s| {
        s.operator_events.topics = OperatorTopics::parse(&["alert.destination.disabled"]).unwrap();
        s.operator_events.queue = Some(queue);
        s.operator_events.deployment_id = deployment.map(str::to_owned);
        s.delivery.disable_after_failures = 1;
        s.delivery.disable_min_failing = Duration::ZERO;
    })
    .await;
    let sender = app.operator_events().expect("a sink is configured").clone();
    (app.worker().clone(), sender)
}

/// A webhook destination that fails, and the event that disables it; the
/// alert is then in the outbox.
async fn disable_a_destination(db: &TestDb, worker: &Worker) -> TestReceiver {
    let c = db.client().await;
    let hooks = TestReceiver::start().await;
    hooks.set_default(Reply::Status(500));
    flaky(&c, &hooks.url("/")).await;
    publish(&c, "e1", true).await;
    let rec = worker.run_once(soon()).await.unwrap();
    assert_eq!(rec.newly_disabled.len(), 1);
    assert_eq!(outbox_len(&c).await, 1);
    hooks
}

/// The envelope in `body`, checked: Outpost's keys, no secret anywhere.
fn envelope(body: &[u8], deployment: Option<&str>) -> Value {
    let text = String::from_utf8_lossy(body);
    assert!(!text.contains(SECRET), "a credential leaked: {text}");
    assert!(!text.contains(HEADER_SECRET), "a header leaked: {text}");
    let v: Value = serde_json::from_slice(body).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    let mut want = vec!["data", "id", "tenant_id", "time", "topic"];
    if deployment.is_some() {
        want.insert(1, "deployment_id");
    }
    assert_eq!(keys, want, "{v}");
    assert_eq!(v["deployment_id"].as_str(), deployment);
    assert_eq!(v["topic"], "alert.destination.disabled");
    assert_eq!(v["tenant_id"], "acme");
    assert!(chrono::DateTime::parse_from_rfc3339(v["time"].as_str().unwrap()).is_ok());
    assert_eq!(
        data_keys(&v),
        [
            "attempt",
            "destination",
            "disabled_at",
            "event",
            "reason",
            "tenant_id"
        ]
    );
    assert_destination_projection(&v["data"]["destination"]);
    assert_eq!(v["data"]["destination"]["id"], "flaky");
    assert_eq!(v["data"]["event"]["id"], "e1");
    v
}

#[tokio::test]
async fn the_alert_arrives_in_an_sqs_queue_with_the_deployment_id() {
    let moto = moto();
    let aws = moto.client();
    let queue = aws.create_queue(&moto::unique("ops")).await;
    let db = TestDb::new().await;
    let sink = sink_settings(&[
        "--operator-events-aws-sqs-queue-url",
        &queue,
        "--operator-events-aws-sqs-access-key-id",
        &moto.key,
        "--operator-events-aws-sqs-secret-access-key",
        &moto.secret,
        "--operator-events-aws-sqs-region",
        "us-east-1",
    ]);
    let (worker, sender) = service(&db, sink, Some("eu-prod-1")).await;
    let _hooks = disable_a_destination(&db, &worker).await;

    let round = sender.run_once(None).await.unwrap();
    assert_eq!((round.delivered, round.retrying), (1, 0), "{round:?}");
    assert_eq!(outbox_len(&db.client().await).await, 0);

    let got = aws.receive(&queue).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let all = got[0].to_string();
    assert!(!all.contains(&moto.secret), "the AWS secret leaked: {all}");
    let body = got[0]["Body"].as_str().unwrap();
    let v = envelope(body.as_bytes(), Some("eu-prod-1"));
    let meta: Value = serde_json::from_str(
        got[0]["MessageAttributes"]["metadata"]["StringValue"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(meta["topic"], "alert.destination.disabled");
    assert_eq!(meta["event-id"], v["id"]);
}

#[tokio::test]
async fn the_alert_arrives_on_a_rabbitmq_exchange_routed_by_its_topic() {
    let node = rabbitmq::shared().await;
    let exchange = rabbitmq::unique("ops");
    let mut consumer = node.consumer(&exchange, false).await;
    let db = TestDb::new().await;
    let url = format!("amqp://{USER}:{PASSWORD}@127.0.0.1:{}/", node.port);
    let sink = sink_settings(&[
        "--operator-events-rabbitmq-server-url",
        &url,
        "--operator-events-rabbitmq-exchange",
        &exchange,
    ]);
    let (worker, sender) = service(&db, sink, None).await;
    let _hooks = disable_a_destination(&db, &worker).await;

    let round = sender.run_once(None).await.unwrap();
    assert_eq!(round.delivered, 1, "{round:?}");
    let got = consumer.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].exchange, exchange);
    assert_eq!(got[0].routing_key, "alert.destination.disabled");
    assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
    let v = envelope(&got[0].body, None);
    assert_eq!(got[0].header("event-id"), v["id"].as_str());
    assert!(got[0].headers.iter().all(|(_, value)| value != PASSWORD));
}

#[tokio::test]
async fn the_alert_arrives_at_pubsub_with_a_verified_token() {
    let google = Google::start(true).await;
    let db = TestDb::new().await;
    let key = google.key(EMAIL);
    let endpoint = google.endpoint();
    let sink = sink_settings(&[
        "--operator-events-gcp-pubsub-project-id",
        "acme-ops",
        "--operator-events-gcp-pubsub-topic-id",
        "orders",
        "--operator-events-gcp-pubsub-credentials",
        &key,
        "--operator-events-gcp-pubsub-endpoint",
        &endpoint,
    ]);
    let (worker, sender) = service(&db, sink, None).await;
    let _hooks = disable_a_destination(&db, &worker).await;

    let round = sender.run_once(None).await.unwrap();
    assert_eq!(round.delivered, 1, "{round:?}");
    assert_eq!(google.issued(), 1, "a token from the JWT-bearer grant");
    let published = google.published();
    assert_eq!(published.len(), 1);
    let p = &published[0];
    assert_eq!(p.topic, "projects/acme-ops/topics/orders");
    assert_eq!(p.authorization.as_deref(), Some("Bearer ya29.fake-1"));
    let v = envelope(&p.data, None);
    assert_eq!(p.attributes["event-id"], v["id"]);
}

/// The broker stops with the alert in the outbox: the round fails, the
/// event stays (attempts counted, the error kept); the broker comes back
/// and the next due round delivers the same event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_waits_while_rabbitmq_is_down_and_arrives_once_it_is_back() {
    let node = rabbitmq::exclusive().await;
    let exchange = rabbitmq::unique("ops-outage");
    // Durable: the exchange and its queue outlive the broker's stop.
    drop(node.consumer(&exchange, true).await);
    let db = TestDb::new().await;
    let c = db.client().await;
    let url = format!("amqp://{USER}:{PASSWORD}@127.0.0.1:{}", node.port);
    let sink = sink_settings(&[
        "--operator-events-rabbitmq-server-url",
        &url,
        "--operator-events-rabbitmq-exchange",
        &exchange,
    ]);
    let (worker, sender) = service(&db, sink, None).await;
    let _hooks = disable_a_destination(&db, &worker).await;

    node.stop_broker().await;
    let round = sender.run_once(None).await.unwrap();
    assert_eq!((round.delivered, round.retrying), (0, 1), "{round:?}");
    let row = c
        .query_one(
            "SELECT id, attempts, last_error FROM outbound.operator_events",
            &[],
        )
        .await
        .unwrap();
    let (id, attempts, error): (String, i32, Option<String>) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(attempts, 1);
    let error = error.expect("the failure is kept");
    assert!(!error.contains(PASSWORD), "{error}");

    node.start_broker().await;
    let mut consumer = node.consumer(&exchange, true).await;
    let later = Utc::now() + chrono::Duration::minutes(1);
    let round = sender.run_once(Some(later)).await.unwrap();
    assert_eq!(round.delivered, 1, "{round:?}");
    assert_eq!(outbox_len(&c).await, 0);
    let got = consumer.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(envelope(&got[0].body, None)["id"], id.as_str());
}
