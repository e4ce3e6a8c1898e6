//! The publish queue (`PUBLISH_*`): a publish request put on a broker's
//! queue ends as an event delivered to a webhook on loopback; a malformed
//! one is refused and taken off the queue; a duplicate id publishes once;
//! and a consumer that dies between the event's commit and the message's
//! acknowledgement leaves the message to be delivered again, which then
//! makes no second event.
//!
//! RabbitMQ is the test broker (`helpers::rabbitmq`), SQS is moto; Pub/Sub
//! and Service Bus are loopback stand-ins (`FakeService`) that keep a
//! queue with leases the way the services do.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use amqprs::channel::{BasicPublishArguments, QueueDeclareArguments};
use amqprs::{BasicProperties, FieldTable, FieldValue};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use outbound::api::AppState;
use outbound::app::Parts;
use outbound::destinations::aws::sign::Credentials;
use outbound::destinations::azure_servicebus::connection::ConnectionString;
use outbound::intake::azure_servicebus::ServiceBusSource;
use outbound::intake::gcp_pubsub::PubsubSource;
use outbound::intake::sqs::SqsSource;
use outbound::intake::{Intake, Source, Verdict};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::app::build;
use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::helpers::factory::{tenant, webhook};
use crate::helpers::fake_service::{Answer, FakeService, Received};
use crate::helpers::moto::{moto, unique as moto_unique};
use crate::helpers::rabbitmq::{self, unique, PASSWORD, USER};
use crate::helpers::receiver::TestReceiver;

const WAIT: Duration = Duration::from_secs(20);

/// `serve` (API, worker) on a test database with tenant `acme` and a
/// webhook for every topic; the API's state, for an [`Intake`].
struct Service {
    db: TestDb,
    state: AppState,
    receiver: TestReceiver,
    cancel: CancellationToken,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A test database with tenant `acme` and a webhook for every topic to a
/// receiver on loopback.
async fn acme_with_a_webhook() -> (TestDb, TestReceiver) {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    let receiver = TestReceiver::start().await;
    webhook(
        &c,
        &acme,
        "hook",
        &["*"],
        &receiver.url("/hook"),
        json!({"secret": "s"}),
    )
    .await;
    (db, receiver)
}

impl Service {
    async fn start(tweak: impl FnOnce(&mut outbound::config::Settings)) -> Service {
        let (db, receiver) = acme_with_a_webhook().await;
        let parts = Parts {
            api: true,
            worker: true,
            maintenance: false,
        };
        let app = build(&db, parts, tweak).await;
        let state = app.state().clone();
        let cancel = CancellationToken::new();
        let running = Some(tokio::spawn(app.run(cancel.clone())));
        Service {
            db,
            state,
            receiver,
            cancel,
            running,
        }
    }

    /// Shuts the service down as SIGTERM would, and waits for it: before
    /// its database is dropped, which would otherwise wait for the
    /// service's connections.
    async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(running) = self.running.take() {
            let stopped = tokio::time::timeout(WAIT, running).await;
            assert!(stopped.is_ok(), "serve did not stop within {WAIT:?}");
        }
    }

    async fn events(&self) -> Vec<String> {
        let c = self.db.client().await;
        c.query("SELECT id FROM outbound.events ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// The data of every webhook request received, once `n` have arrived.
    async fn delivered(&self, n: usize) -> Vec<Value> {
        self.receiver
            .wait_for(n, WAIT)
            .await
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }
}

/// A publish request for `acme`, with `id` if given.
fn request(id: Option<&str>, n: u32) -> String {
    let mut body = json!({"tenant_id": "acme", "topic": "user.created", "data": {"n": n}});
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    body.to_string()
}

/// Runs `intake` until `n` messages were handled (or panics).
async fn handle<S: Source>(intake: &mut Intake<S>, n: usize) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while verdicts.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "handled {verdicts:?}, wanted {n}"
        );
        verdicts.extend(intake.run_once().await.expect("run_once"));
    }
    verdicts
}

fn is_refused(v: &Verdict) -> bool {
    matches!(v, Verdict::Refused(_))
}

// ---------------------------------------------------------------- RabbitMQ

/// A durable queue `queue` on the test broker, whose dead letters go to
/// `<queue>.dead` (through the default exchange), and a channel to publish
/// on.
async fn rabbit_queue(
    node: &rabbitmq::Node,
    queue: &str,
) -> (amqprs::connection::Connection, amqprs::channel::Channel) {
    let connection = node.login().await.expect("login");
    let channel = connection.open_channel(None).await.expect("channel");
    let dead = format!("{queue}.dead");
    let mut d = QueueDeclareArguments::new(&dead);
    d.durable(true);
    channel.queue_declare(d.finish()).await.expect("dead queue");
    let mut arguments = FieldTable::new();
    let text = |s: &str| FieldValue::from(s.to_string());
    arguments.insert("x-dead-letter-exchange".try_into().unwrap(), text(""));
    arguments.insert("x-dead-letter-routing-key".try_into().unwrap(), text(&dead));
    let mut q = QueueDeclareArguments::new(queue);
    q.durable(true).arguments(arguments);
    channel.queue_declare(q.finish()).await.expect("queue");
    (connection, channel)
}

async fn rabbit_send(
    channel: &amqprs::channel::Channel,
    queue: &str,
    body: &str,
    message_id: Option<&str>,
) {
    let mut props = BasicProperties::default();
    if let Some(id) = message_id {
        props.with_message_id(id);
    }
    channel
        .basic_publish(
            props.finish(),
            body.as_bytes().to_vec(),
            BasicPublishArguments::new("", queue),
        )
        .await
        .expect("publish");
}

/// Messages waiting on `queue` (ready, not those held unacked).
async fn rabbit_ready(channel: &amqprs::channel::Channel, queue: &str) -> u32 {
    let mut q = QueueDeclareArguments::new(queue);
    q.passive(true);
    let (_, count, _) = channel
        .queue_declare(q.finish())
        .await
        .expect("passive declare")
        .expect("answer");
    count
}

fn amqp_url(node: &rabbitmq::Node) -> String {
    format!("amqp://{USER}:{PASSWORD}@127.0.0.1:{}/", node.port)
}

#[tokio::test]
async fn rabbitmq_messages_are_published_by_serve_and_bad_ones_removed() {
    let node = rabbitmq::shared().await;
    let queue = unique("publish");
    let (_conn, channel) = rabbit_queue(&node, &queue).await;
    let (url, q) = (amqp_url(&node), queue.clone());
    let service = Service::start(move |s| {
        s.publish.rabbitmq.server_url = Some(url);
        s.publish.rabbitmq.queue = Some(q);
        s.publish.max_concurrency = 4;
    })
    .await;

    rabbit_send(&channel, &queue, &request(Some("rq-1"), 1), None).await;
    rabbit_send(&channel, &queue, "{not json", None).await;
    rabbit_send(
        &channel,
        &queue,
        &request(None, 2).replace("acme", "nobody"),
        None,
    )
    .await;
    rabbit_send(&channel, &queue, &request(Some("rq-1"), 3), None).await;
    rabbit_send(&channel, &queue, &request(None, 4), Some("amqp-id-4")).await;

    let delivered = service.delivered(2).await;
    let mut ns: Vec<i64> = delivered.iter().map(|d| d["n"].as_i64().unwrap()).collect();
    ns.sort();
    assert_eq!(
        ns,
        [1, 4],
        "the first rq-1 and the id-less one; {delivered:?}"
    );
    // Everything was settled: nothing waits, nothing is held.
    let settled = eventually(WAIT, || async {
        (rabbit_ready(&channel, &queue).await == 0 && service.events().await.len() == 2)
            .then_some(())
    })
    .await;
    assert!(settled.is_some(), "events: {:?}", service.events().await);
    assert_eq!(service.events().await, ["rabbitmq:amqp-id-4", "rq-1"]);
    // The two refused ones were rejected without requeueing: the queue's
    // dead-letter route has them.
    let dead = format!("{queue}.dead");
    let dead_lettered = eventually(WAIT, || async {
        (rabbit_ready(&channel, &dead).await == 2).then_some(())
    })
    .await;
    assert!(
        dead_lettered.is_some(),
        "{}",
        rabbit_ready(&channel, &dead).await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(service.receiver.count(), 2, "no second delivery of rq-1");
    // Shutdown stops the consumer with the rest of serve.
    service.stop().await;
}

#[tokio::test]
async fn rabbitmq_a_crash_between_commit_and_ack_publishes_once() {
    let node = rabbitmq::shared().await;
    let queue = unique("publish-crash");
    let (_conn, channel) = rabbit_queue(&node, &queue).await;
    let service = Service::start(|_| {}).await;
    // No id in the request and no message-id: the event id is the body's
    // hash, the same on redelivery.
    rabbit_send(&channel, &queue, &request(None, 7), None).await;

    let args = outbound::intake::rabbitmq::RabbitmqArgs {
        server_url: Some(amqp_url(&node)),
        queue: Some(queue.clone()),
        exchange: None,
    };
    let mut first = Intake::new(args.source().unwrap(), service.state.clone(), 1);
    let taken = first.receive().await.expect("receive");
    assert_eq!(taken.len(), 1);
    let verdicts = first.publish(&taken).await;
    assert!(matches!(verdicts[0], Verdict::Published(_)), "{verdicts:?}");
    // The crash: the consumer goes away with the event committed and the
    // message unacknowledged; its connection closes.
    drop(taken);
    drop(first);

    let mut second = Intake::new(args.source().unwrap(), service.state.clone(), 1);
    let verdicts = handle(&mut second, 1).await;
    assert!(matches!(verdicts[0], Verdict::Duplicate(_)), "{verdicts:?}");
    assert_eq!(service.events().await.len(), 1);
    assert_eq!(service.delivered(1).await.len(), 1);
    drop(second);
    assert_eq!(
        rabbit_ready(&channel, &queue).await,
        0,
        "acked, not requeued"
    );
}

/// `outbound serve` as its own process, consuming `queue` (8 at a time),
/// delivering to the receiver the database's webhook points at.
async fn serve_consuming(db: &TestDb, node: &rabbitmq::Node, queue: &str) -> tokio::process::Child {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_outbound"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("API_PORT", "0")
        .env("API_KEY", "k")
        .env("API_JWT_SECRET", "j")
        .env("AES_ENCRYPTION_SECRET", "a")
        .env("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("PUBLISH_RABBITMQ_SERVER_URL", amqp_url(node))
        .env("PUBLISH_RABBITMQ_QUEUE", queue)
        .env("PUBLISH_MAX_CONCURRENCY", "8")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("outbound serve");
    crate::serve::read_address(&mut child).await;
    child
}

/// The real crash: `outbound serve` killed (SIGKILL) while it consumes a
/// stream of id-less messages, eight in flight, then started again. Every
/// message becomes exactly one event: none lost with the process, none
/// published twice when the broker hands back what was taken but not
/// acknowledged (those whose events had committed are duplicates now).
#[tokio::test]
async fn rabbitmq_serve_killed_mid_stream_loses_nothing_and_publishes_nothing_twice() {
    const N: u32 = 2000;
    let node = rabbitmq::shared().await;
    let queue = unique("publish-kill");
    let (_conn, channel) = rabbit_queue(&node, &queue).await;
    let (db, _receiver) = acme_with_a_webhook().await;
    let c = db.client().await;
    for n in 0..N {
        rabbit_send(&channel, &queue, &request(None, n), None).await;
    }
    let count = || async {
        c.query_one("SELECT count(*) FROM outbound.events", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };

    let mut first = serve_consuming(&db, &node, &queue).await;
    let started = eventually(WAIT, || async { (count().await >= 200).then_some(()) }).await;
    assert!(started.is_some(), "the first serve published nothing");
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("killed");
    let at_kill = count().await;
    assert!(
        at_kill < i64::from(N),
        "the kill came too late to mean anything: {at_kill}"
    );

    let mut second = serve_consuming(&db, &node, &queue).await;
    let done = eventually(Duration::from_secs(60), || async {
        (count().await >= i64::from(N) && rabbit_ready(&channel, &queue).await == 0).then_some(())
    })
    .await;
    assert!(done.is_some(), "events: {} of {N}", count().await);
    // Anything redelivered after the restart has been settled by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let row = c
        .query_one(
            "SELECT count(*), count(DISTINCT (data->>'n')) FROM outbound.events",
            &[],
        )
        .await
        .unwrap();
    let (events, distinct): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(
        (events, distinct),
        (i64::from(N), i64::from(N)),
        "killed at {at_kill} events"
    );
    assert_eq!(
        rabbit_ready(&channel, &format!("{queue}.dead")).await,
        0,
        "nothing refused"
    );
    second.start_kill().ok();
    let _ = second.wait().await;
}

// --------------------------------------------------------------------- SQS

/// A moto queue whose messages come back 1 s after being taken unsettled.
async fn sqs_queue() -> String {
    let name = moto_unique("publish");
    let (s, r) = moto()
        .client()
        .json(
            "sqs",
            "us-east-1",
            "AmazonSQS.CreateQueue",
            json!({"QueueName": name, "Attributes": {"VisibilityTimeout": "1"}}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    name
}

async fn sqs_send(queue: &str, body: &str) {
    let client = moto().client();
    let (s, r) = client
        .json(
            "sqs",
            "us-east-1",
            "AmazonSQS.GetQueueUrl",
            json!({"QueueName": queue}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = client
        .json(
            "sqs",
            "us-east-1",
            "AmazonSQS.SendMessage",
            json!({"QueueUrl": r["QueueUrl"], "MessageBody": body}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
}

fn sqs_source(queue: &str) -> SqsSource {
    let m = moto();
    SqsSource::new(
        m.endpoint.clone(),
        "us-east-1".into(),
        queue.into(),
        Credentials::new(&m.key, &m.secret, None),
        1,
    )
    .unwrap()
}

#[tokio::test]
async fn sqs_messages_are_published_and_bad_ones_removed() {
    let queue = sqs_queue().await;
    let service = Service::start(|_| {}).await;
    sqs_send(&queue, &request(Some("sq-1"), 1)).await;
    sqs_send(&queue, "[1, 2]").await;
    sqs_send(&queue, &request(Some("sq-1"), 2)).await;
    sqs_send(&queue, &request(None, 3)).await;

    let mut intake = Intake::new(sqs_source(&queue), service.state.clone(), 10);
    let verdicts = handle(&mut intake, 4).await;
    assert_eq!(
        verdicts.iter().filter(|v| is_refused(v)).count(),
        1,
        "{verdicts:?}"
    );
    let ns: Vec<i64> = {
        let mut v: Vec<i64> = service
            .delivered(2)
            .await
            .iter()
            .map(|d| d["n"].as_i64().unwrap())
            .collect();
        v.sort();
        v
    };
    assert!(
        ns == [1, 3] || ns == [2, 3],
        "one of sq-1, and the id-less one: {ns:?}"
    );
    let events = service.events().await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events.iter().any(|e| e.starts_with("aws_sqs:")),
        "{events:?}"
    );
    // Deleted, the refused one included: after the visibility timeout
    // nothing comes back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(intake.run_once().await.unwrap().is_empty());
}

#[tokio::test]
async fn sqs_a_crash_between_commit_and_ack_publishes_once() {
    let queue = sqs_queue().await;
    let service = Service::start(|_| {}).await;
    sqs_send(&queue, &request(None, 5)).await;

    let mut first = Intake::new(sqs_source(&queue), service.state.clone(), 1);
    let taken = loop {
        let taken = first.receive().await.expect("receive");
        if !taken.is_empty() {
            break taken;
        }
    };
    let verdicts = first.publish(&taken).await;
    assert!(matches!(verdicts[0], Verdict::Published(_)), "{verdicts:?}");
    drop(first); // the crash: never deleted

    // The message comes back once its visibility timeout (1 s) ends.
    let mut second = Intake::new(sqs_source(&queue), service.state.clone(), 1);
    let verdicts = handle(&mut second, 1).await;
    assert!(matches!(verdicts[0], Verdict::Duplicate(_)), "{verdicts:?}");
    assert_eq!(service.events().await.len(), 1);
    assert_eq!(service.delivered(1).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(second.run_once().await.unwrap().is_empty(), "deleted");
}

// ----------------------------------------------- Pub/Sub and Service Bus

/// A queue with leases, as both services keep one: a taken message is
/// leased until settled or until [`FakeQueue::expire`] (its ack deadline,
/// or lock, running out).
#[derive(Default)]
struct FakeQueue {
    messages: Mutex<Vec<FakeMessage>>,
}

struct FakeMessage {
    id: String,
    body: Vec<u8>,
    leased: bool,
    done: bool,
}

impl FakeQueue {
    fn push(&self, id: &str, body: &str) {
        self.messages.lock().unwrap().push(FakeMessage {
            id: id.into(),
            body: body.as_bytes().to_vec(),
            leased: false,
            done: false,
        });
    }

    /// The next `max` available messages, leased: (index, id, body).
    fn take(&self, max: usize) -> Vec<(usize, String, Vec<u8>)> {
        let mut m = self.messages.lock().unwrap();
        m.iter_mut()
            .enumerate()
            .filter(|(_, m)| !m.leased && !m.done)
            .take(max)
            .map(|(i, m)| {
                m.leased = true;
                (i, m.id.clone(), m.body.clone())
            })
            .collect()
    }

    /// Settles message `i`: done (acknowledged, completed) or released.
    fn settle(&self, i: usize, done: bool) {
        if let Some(m) = self.messages.lock().unwrap().get_mut(i) {
            m.leased = false;
            m.done |= done;
        }
    }

    fn expire(&self) {
        for m in self.messages.lock().unwrap().iter_mut() {
            m.leased = false;
        }
    }

    fn remaining(&self) -> usize {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| !m.done)
            .count()
    }
}

/// Pub/Sub's REST pull, acknowledge and modifyAckDeadline on
/// `projects/p/subscriptions/s`; ack ids are the message's index.
async fn fake_pubsub(queue: Arc<FakeQueue>) -> FakeService {
    FakeService::start(move |r: &Received| {
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let ids = || -> Vec<usize> {
            body["ackIds"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
                .unwrap_or_default()
        };
        match r.path() {
            "/v1/projects/p/subscriptions/s:pull" => {
                let max = body["maxMessages"].as_u64().unwrap_or(1) as usize;
                let received: Vec<Value> = queue
                    .take(max)
                    .into_iter()
                    .map(|(i, id, data)| {
                        json!({"ackId": i.to_string(),
                               "message": {"messageId": id, "data": STANDARD.encode(data)}})
                    })
                    .collect();
                Answer::json(200, json!({"receivedMessages": received}))
            }
            "/v1/projects/p/subscriptions/s:acknowledge" => {
                for i in ids() {
                    queue.settle(i, true);
                }
                Answer::json(200, json!({}))
            }
            "/v1/projects/p/subscriptions/s:modifyAckDeadline" => {
                for i in ids() {
                    queue.settle(i, false);
                }
                Answer::json(200, json!({}))
            }
            _ => Answer::json(404, json!({"error": {"message": "no such resource"}})),
        }
    })
    .await
}

/// What both stand-ins go through: an id-less request, a malformed one
/// (`malformed`), the same id twice; then a message published and never
/// settled, whose lease runs out.
async fn stand_in_round<S: Source>(queue: &FakeQueue, source: impl Fn() -> S, malformed: &str) {
    let service = Service::start(|_| {}).await;
    queue.push("m-1", &request(None, 1));
    queue.push("m-2", malformed);
    queue.push("m-3", &request(Some("dup"), 3));
    queue.push("m-4", &request(Some("dup"), 4));

    let mut intake = Intake::new(source(), service.state.clone(), 10);
    let verdicts = handle(&mut intake, 4).await;
    assert_eq!(
        verdicts.iter().filter(|v| is_refused(v)).count(),
        1,
        "{verdicts:?}"
    );
    assert_eq!(service.delivered(2).await.len(), 2);
    let mut expected = ["dup".to_string(), format!("{}:m-1", S::LABEL)];
    expected.sort();
    assert_eq!(service.events().await, expected);
    assert_eq!(queue.remaining(), 0, "all settled as done");

    // The crash: published, never settled; the lease runs out.
    queue.push("m-5", &request(None, 5));
    let taken = intake.receive().await.unwrap();
    assert!(matches!(
        intake.publish(&taken).await[0],
        Verdict::Published(_)
    ));
    drop(intake);
    queue.expire();
    let mut again = Intake::new(source(), service.state.clone(), 10);
    let verdicts = handle(&mut again, 1).await;
    assert!(matches!(verdicts[0], Verdict::Duplicate(_)), "{verdicts:?}");
    assert_eq!(service.events().await.len(), 3);
    assert_eq!(service.delivered(3).await.len(), 3);
    assert_eq!(queue.remaining(), 0);
}

#[tokio::test]
async fn gcp_pubsub_messages_are_published_and_a_crash_publishes_once() {
    let queue = Arc::new(FakeQueue::default());
    let fake = fake_pubsub(queue.clone()).await;
    let source = || PubsubSource::new(Some(fake.url("")), "p", "s", String::new()).unwrap();
    stand_in_round(&queue, source, "not json").await;
}

const SB_KEY: &str = "c2VjcmV0LWtleQ==";

/// Service Bus's peek-lock receive, complete (DELETE) and unlock (PUT) on
/// topic `t`, subscription `s`; the lock URL ends in the message's index.
async fn fake_servicebus(queue: Arc<FakeQueue>) -> FakeService {
    let base: Arc<Mutex<String>> = Arc::default();
    let b = base.clone();
    let fake = FakeService::start(move |r: &Received| {
        if !r
            .header("authorization")
            .is_some_and(|a| a.starts_with("SharedAccessSignature "))
        {
            return Answer::text(401, "text/plain", "no SAS");
        }
        let path = r.path();
        if r.method == "POST" && path == "/t/subscriptions/s/messages/head" {
            let Some((i, id, body)) = queue.take(1).into_iter().next() else {
                return Answer::text(204, "text/plain", "");
            };
            let mut answer =
                Answer::text(201, "application/json", &String::from_utf8(body).unwrap());
            answer.headers.push((
                "BrokerProperties".into(),
                json!({"MessageId": id, "LockToken": format!("lock-{i}"), "SequenceNumber": i})
                    .to_string(),
            ));
            answer.headers.push((
                "Location".into(),
                format!(
                    "{}/t/subscriptions/s/messages/{i}/lock-{i}",
                    b.lock().unwrap()
                ),
            ));
            return answer;
        }
        let Some(i) = path
            .strip_prefix("/t/subscriptions/s/messages/")
            .and_then(|rest| rest.split('/').next())
            .and_then(|i| i.parse().ok())
        else {
            return Answer::text(404, "text/plain", "no such entity");
        };
        queue.settle(i, r.method == "DELETE");
        Answer::text(200, "text/plain", "")
    })
    .await;
    *base.lock().unwrap() = fake.url("");
    fake
}

#[tokio::test]
async fn azure_servicebus_messages_are_published_and_a_crash_publishes_once() {
    let queue = Arc::new(FakeQueue::default());
    let fake = fake_servicebus(queue.clone()).await;
    let source = || {
        let connection = ConnectionString::parse(&format!(
            "Endpoint=sb://{}/;SharedAccessKeyName=listen;SharedAccessKey={SB_KEY};UseDevelopmentEmulator=true",
            fake.addr
        ))
        .unwrap();
        ServiceBusSource::new(connection, "t", "s", 1).unwrap()
    };
    // No data: never publishable.
    let malformed = r#"{"tenant_id": "acme", "topic": "user.created"}"#;
    stand_in_round(&queue, source, malformed).await;
}

#[tokio::test]
async fn conflicting_publish_queue_settings_are_a_start_up_error() {
    let db = TestDb::new().await;
    let mut s = crate::helpers::app::settings(&db);
    s.publish.rabbitmq.server_url = Some("amqp://u:p@127.0.0.1:1/".into());
    s.publish.rabbitmq.queue = Some("q".into());
    s.publish.aws_sqs.region = Some("us-east-1".into());
    let err = s.publish.broker().unwrap_err();
    assert!(err.contains("one publish queue at most"), "{err}");
    s.publish.aws_sqs.region = None;
    s.publish.aws_sqs.queue = Some("orphan".into());
    let err = s.publish.broker().unwrap_err();
    assert!(err.contains("PUBLISH_AWS_SQS_QUEUE set"), "{err}");
}

// ------------------------------------- each broker from serve's settings

#[tokio::test]
async fn sqs_pubsub_and_servicebus_are_consumed_by_serve_from_their_settings() {
    // SQS on moto.
    let queue = sqs_queue().await;
    let m = moto();
    let q = queue.clone();
    let service = Service::start(|s| {
        s.publish.aws_sqs.region = Some("us-east-1".into());
        s.publish.aws_sqs.queue = Some(q);
        s.publish.aws_sqs.endpoint = Some(m.endpoint.clone());
        s.publish.aws_sqs.access_key_id = Some(m.key.clone());
        s.publish.aws_sqs.secret_access_key = Some(m.secret.clone());
    })
    .await;
    sqs_send(&queue, &request(Some("from-sqs"), 1)).await;
    assert_eq!(service.delivered(1).await[0]["n"], 1);
    assert_eq!(service.events().await, ["from-sqs"]);
    service.stop().await;

    // Pub/Sub through PUBSUB_EMULATOR_HOST (no credentials).
    let fake_queue = Arc::new(FakeQueue::default());
    let fake = fake_pubsub(fake_queue.clone()).await;
    let host = fake.addr.to_string();
    let service = Service::start(|s| {
        s.publish.gcp_pubsub.project = Some("p".into());
        s.publish.gcp_pubsub.subscription = Some("s".into());
        s.publish.gcp_pubsub.emulator_host = Some(host);
    })
    .await;
    fake_queue.push("ps-1", &request(None, 2));
    assert_eq!(service.delivered(1).await[0]["n"], 2);
    assert_eq!(service.events().await, ["gcp_pubsub:ps-1"]);
    service.stop().await;

    // Service Bus through a development-emulator connection string.
    let fake_queue = Arc::new(FakeQueue::default());
    let fake = fake_servicebus(fake_queue.clone()).await;
    let connection = format!(
        "Endpoint=sb://{}/;SharedAccessKeyName=listen;SharedAccessKey={SB_KEY};UseDevelopmentEmulator=true",
        fake.addr
    );
    let service = Service::start(|s| {
        s.publish.azure_servicebus.connection_string = Some(connection);
        s.publish.azure_servicebus.topic = Some("t".into());
        s.publish.azure_servicebus.subscription = Some("s".into());
    })
    .await;
    fake_queue.push("sb-1", &request(None, 3));
    assert_eq!(service.delivered(1).await[0]["n"], 3);
    assert_eq!(service.events().await, ["azure_servicebus:sb-1"]);
    let settled = eventually(WAIT, || async {
        (fake_queue.remaining() == 0).then_some(())
    })
    .await;
    assert!(settled.is_some(), "completed");
    service.stop().await;
}
