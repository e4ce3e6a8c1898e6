//! The AWS types end to end through the public API, against moto with
//! signatures checked (`helpers::moto`): create (and a 422 for each kind
//! of bad config), publish, read the message back from moto, failures
//! recorded with a code and AWS's message and retried, masked credentials,
//! the test endpoint, and the SSRF guard.

use std::time::Duration;

use chrono::{DateTime, Utc};
use outbound::config::Settings;
use serde_json::{json, Value};

use crate::helpers::app::{worker, TestApp};
use crate::helpers::db::TestDb;
use crate::helpers::moto::{moto, moto_unchecked, unique, ACCOUNT};

const CATALOG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/topics.yaml");

/// The API with the example catalog and a short retry schedule; tenant
/// `acme` exists.
async fn start(db: &TestDb, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let api = TestApp::start_with(db, |s| {
        s.topics.catalog = Some(CATALOG.into());
        s.delivery.retry_schedule = Some(vec![Duration::from_secs(5), Duration::from_secs(60)]);
        tweak(s);
    })
    .await;
    let (s, _) = api.admin("PUT", "/api/v1/tenants/acme", None).await;
    assert!(s == 200 || s == 201, "{s}");
    api
}

async fn create(api: &TestApp, body: Value) -> Value {
    let (s, d) = api
        .admin("POST", "/api/v1/tenants/acme/destinations", Some(body))
        .await;
    assert_eq!(s, 201, "{d}");
    d
}

/// The fields a refused create names.
async fn refused(api: &TestApp, body: Value) -> Vec<String> {
    let (s, e) = api
        .admin("POST", "/api/v1/tenants/acme/destinations", Some(body))
        .await;
    assert_eq!(s, 422, "{e}");
    e["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m.as_str().unwrap_or_default().to_string())
        .collect()
}

async fn publish(api: &TestApp, id: &str, data: &Value) {
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(
                json!({"id": id, "tenant_id": "acme", "topic": "user.created",
                        "time": "2026-11-29T10:00:00.25Z",
                        "metadata": {"source": "crm"}, "data": data}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{r}");
}

/// A destination's attempts with their response data, oldest first.
async fn attempts(api: &TestApp, destination: &str) -> Vec<Value> {
    let (s, page) = api
        .admin(
            "GET",
            &format!(
                "/api/v1/tenants/acme/destinations/{destination}/attempts?include=response_data"
            ),
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let mut models = page["models"].as_array().cloned().unwrap_or_default();
    models.sort_by_key(|a| {
        (
            a["time"].as_str().map(str::to_string),
            a["attempt_number"].as_i64(),
        )
    });
    models
}

/// The metadata every message carries, parsed from its JSON text.
fn check_metadata(text: &str, event_id: &str, sent_between: (DateTime<Utc>, DateTime<Utc>)) {
    let m: Value = serde_json::from_str(text).expect("metadata JSON");
    let keys: Vec<&String> = m.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["event-id", "source", "timestamp", "topic"], "{m}");
    assert_eq!(m["event-id"], event_id);
    assert_eq!(m["topic"], "user.created");
    assert_eq!(m["source"], "crm");
    let ts: DateTime<Utc> = m["timestamp"].as_str().unwrap().parse().unwrap();
    assert!(
        ts >= sent_between.0 - chrono::Duration::seconds(1) && ts <= sent_between.1,
        "{ts}"
    );
}

fn user() -> Value {
    json!({"user_id": "usr_7", "email": "ada@example.com", "roles": ["admin"], "score": 1.5})
}

#[tokio::test]
async fn sqs_standard_and_fifo_queues_receive_the_data_and_one_metadata_attribute() {
    let moto = moto();
    let aws = moto.client();
    let queue = aws.create_queue(&unique("orders")).await;
    let fifo = aws
        .create_queue(&format!("{}.fifo", unique("orders")))
        .await;
    let db = TestDb::new().await;
    let api = start(&db, |_| {}).await;

    // Each kind of bad config is a 422 naming the field.
    let creds = moto.credentials();
    for (queue_url, field) in [
        (
            "https://sqs.us-east-1.amazonaws.com/orders",
            "config.queue_url: must end in /<account id>/<queue name>",
        ),
        (
            "https://sqs.us-wset-1.amazonaws.com/123456789012/q",
            "config.queue_url: host sqs.us-wset-1.amazonaws.com names no AWS region",
        ),
        (
            "sqs.us-east-1.amazonaws.com/123456789012/q",
            "config.queue_url",
        ),
    ] {
        let msgs = refused(
            &api,
            json!({"type": "aws_sqs", "topics": ["*"],
                                        "config": {"queue_url": queue_url}, "credentials": creds}),
        )
        .await;
        assert!(
            msgs.iter().any(|m| m.starts_with(field)),
            "{queue_url}: {msgs:?}"
        );
    }
    let msgs = refused(&api, json!({"type": "aws_sqs", "topics": ["*"],
                                    "config": {"queue_url": queue}, "credentials": {"key": moto.key}})).await;
    assert!(
        msgs.iter().any(|m| m.starts_with("credentials.secret")),
        "{msgs:?}"
    );

    let d = create(
        &api,
        json!({"id": "sqs", "type": "aws_sqs", "topics": ["user.created"],
                                "config": {"queue_url": queue}, "credentials": creds}),
    )
    .await;
    assert_eq!(
        d["credentials"]["key"].as_str().unwrap().len(),
        moto.key.len()
    );
    assert!(
        d["credentials"]["key"].as_str().unwrap().ends_with('*'),
        "{d}"
    );
    assert_ne!(d["credentials"]["secret"], moto.secret.as_str(), "{d}");
    create(
        &api,
        json!({"id": "fifo", "type": "aws_sqs", "topics": ["*"],
                        "config": {"queue_url": fifo}, "credentials": creds}),
    )
    .await;
    let (_, shown) = api
        .admin("GET", "/api/v1/tenants/acme/destinations/sqs", None)
        .await;
    assert_eq!(
        shown["credentials"], d["credentials"],
        "masked when read back"
    );
    assert!(!shown.to_string().contains(&moto.secret));

    let data = user();
    publish(&api, "evt_sqs_1", &data).await;
    let before = Utc::now();
    api.worker().run_once(Utc::now()).await.unwrap();
    let after = Utc::now();

    for (url, fifo) in [(&queue, false), (&fifo, true)] {
        let messages = aws.receive(url).await;
        assert_eq!(messages.len(), 1, "{messages:?}");
        let m = &messages[0];
        assert_eq!(m["Body"], data.to_string(), "the data, byte for byte");
        let attrs = m["MessageAttributes"].as_object().unwrap();
        assert_eq!(attrs.len(), 1, "one attribute: {attrs:?}");
        assert_eq!(attrs["metadata"]["DataType"], "String");
        check_metadata(
            attrs["metadata"]["StringValue"].as_str().unwrap(),
            "evt_sqs_1",
            (before, after),
        );
        if fifo {
            assert_eq!(m["Attributes"]["MessageGroupId"], "evt_sqs_1");
            assert_eq!(m["Attributes"]["MessageDeduplicationId"], "evt_sqs_1");
        }
    }
    let a = attempts(&api, "sqs").await;
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0]["status"].as_str(), a[0]["code"].as_str()),
        (Some("success"), Some("200"))
    );
    assert!(
        a[0]["response_data"]["body"]
            .as_str()
            .unwrap()
            .contains("MessageId"),
        "{}",
        a[0]
    );

    // The test endpoint sends the topic's sample.
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations/sqs/test",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    api.worker().run_once(Utc::now()).await.unwrap();
    let messages = aws.receive(&queue).await;
    assert_eq!(messages.len(), 1);
    let body: Value = serde_json::from_str(messages[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(body["user_id"], "usr_1f8e2a");
}

#[tokio::test]
async fn sqs_failures_are_recorded_with_aws_words_and_retried() {
    let moto = moto();
    let aws = moto.client();
    let queue = aws.create_queue(&unique("q")).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let db = TestDb::new().await;
    let api = start(&db, |_| {}).await;
    let wrong = json!({"key": "AKIAWRONGKEY0000", "secret": "wrong-secret-value"});
    create(
        &api,
        json!({"id": "creds", "type": "aws_sqs", "topics": ["*"],
                        "config": {"queue_url": queue}, "credentials": wrong}),
    )
    .await;
    let bad_secret = json!({"key": moto.key, "secret": "not-the-secret-value"});
    create(
        &api,
        json!({"id": "sig", "type": "aws_sqs", "topics": ["*"],
                        "config": {"queue_url": queue}, "credentials": bad_secret}),
    )
    .await;
    let missing = format!("{}/{ACCOUNT}/{}", aws.endpoint, unique("never-created"));
    create(
        &api,
        json!({"id": "missing", "type": "aws_sqs", "topics": ["*"],
                        "config": {"queue_url": missing}, "credentials": moto.credentials()}),
    )
    .await;
    let down = format!("http://127.0.0.1:{closed}/{ACCOUNT}/q");
    create(
        &api,
        json!({"id": "down", "type": "aws_sqs", "topics": ["*"],
                        "config": {"queue_url": down}, "credentials": moto.credentials()}),
    )
    .await;

    publish(&api, "evt_fail", &user()).await;
    let t0 = Utc::now();
    api.worker().run_once(t0).await.unwrap();

    for (d, code, says) in [
        ("creds", "auth_failed", "SQS answered 403"),
        ("sig", "auth_failed", "SignatureDoesNotMatch"),
        ("missing", "not_found", "QueueDoesNotExist"),
        ("down", "connection_refused", "SQS:"),
    ] {
        let a = attempts(&api, d).await;
        assert_eq!(a.len(), 1, "{d}: {a:?}");
        assert_eq!(a[0]["status"], "failed", "{d}");
        assert_eq!(a[0]["code"], code, "{d}: {}", a[0]);
        let rd = &a[0]["response_data"];
        assert_eq!(rd["error"], code, "{d}: {rd}");
        let message = rd["message"].as_str().unwrap();
        assert!(message.contains(says), "{d}: {message}");
        for secret in [
            "wrong-secret-value",
            "AKIAWRONGKEY0000",
            "not-the-secret-value",
            moto.secret.as_str(),
            moto.key.as_str(),
        ] {
            assert!(
                !a[0].to_string().contains(secret),
                "{d} leaks a credential: {}",
                a[0]
            );
        }
    }

    // Retried per the schedule (5 s): nothing before, a second attempt
    // after. Fixed credentials deliver on that retry.
    let (s, _) = api
        .admin(
            "PATCH",
            "/api/v1/tenants/acme/destinations/creds",
            Some(json!({"credentials": moto.credentials()})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        api.worker()
            .run_once(t0 + chrono::Duration::seconds(2))
            .await
            .unwrap()
            .accepted,
        0
    );
    api.worker()
        .run_once(t0 + chrono::Duration::seconds(10))
        .await
        .unwrap();
    let a = attempts(&api, "creds").await;
    let codes: Vec<&str> = a.iter().map(|a| a["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["auth_failed", "200"]);
    assert_eq!(aws.receive(&queue).await.len(), 1);
    let a = attempts(&api, "missing").await;
    assert_eq!(a.len(), 2, "retried: {a:?}");
    assert_eq!(a[1]["code"], "not_found");
}

#[tokio::test]
async fn s3_objects_are_the_data_with_metadata_under_the_templated_key() {
    let moto = moto();
    let aws = moto.client();
    let bucket = unique("events");
    aws.create_bucket(&bucket).await;
    let db = TestDb::new().await;
    let endpoint = aws.endpoint.clone();
    let api = start(&db, |s| s.destinations.aws.s3_endpoint = Some(endpoint)).await;
    let creds = moto.credentials();

    let msgs = refused(
        &api,
        json!({"type": "aws_s3", "topics": ["*"], "credentials": creds,
               "config": {"bucket": "a/b", "region": "eu-middle-1",
                          "key_template": "join('', [data.a", "storage_class": "COLD"}}),
    )
    .await;
    for field in [
        "config.bucket",
        "config.region",
        "config.key_template",
        "config.storage_class",
    ] {
        assert!(
            msgs.iter().any(|m| m.starts_with(field)),
            "{field}: {msgs:?}"
        );
    }
    let msgs = refused(
        &api,
        json!({"type": "aws_s3", "topics": ["*"], "credentials": creds,
               "config": {"bucket": bucket, "region": "Europe"}}),
    )
    .await;
    assert!(
        msgs.iter().any(|m| m.starts_with("config.region")),
        "{msgs:?}"
    );

    let d = create(
        &api,
        json!({"id": "s3", "type": "aws_s3", "topics": ["*"],
               "credentials": {"key": moto.key, "secret": moto.secret, "session": ""},
               "config": {"bucket": bucket, "region": "us-east-1", "storage_class": "standard_ia",
                          "key_template": "join('/', ['users', data.user_id, metadata.\"event-id\"])"}}),
    )
    .await;
    assert!(!d.to_string().contains(&moto.secret));

    let data = user();
    publish(&api, "evt_s3_1", &data).await;
    let before = Utc::now();
    api.worker().run_once(Utc::now()).await.unwrap();
    let after = Utc::now();

    assert_eq!(aws.list_objects(&bucket).await, ["users/usr_7/evt_s3_1"]);
    let o = aws.get_object(&bucket, "users/usr_7/evt_s3_1").await;
    assert_eq!(o.status, 200, "{}", o.body);
    assert_eq!(o.body, data.to_string(), "the data, byte for byte");
    assert_eq!(o.header("content-type"), Some("application/json"));
    assert_eq!(o.header("x-amz-storage-class"), Some("STANDARD_IA"));
    check_metadata(&user_metadata(&o), "evt_s3_1", (before, after));
    let a = attempts(&api, "s3").await;
    assert_eq!(a[0]["code"], "200", "{}", a[0]);
    let place: Value =
        serde_json::from_str(a[0]["response_data"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        place,
        json!({"bucket": bucket, "key": "users/usr_7/evt_s3_1"})
    );

    // A missing bucket, and an event the template names nothing for.
    create(
        &api,
        json!({"id": "nobucket", "type": "aws_s3", "topics": ["*"], "credentials": creds,
               "config": {"bucket": unique("missing"), "region": "us-east-1",
                          "key_template": "metadata.\"event-id\""}}),
    )
    .await;
    publish(&api, "evt_s3_2", &json!({"no_user": true})).await;
    api.worker().run_once(Utc::now()).await.unwrap();
    let a = attempts(&api, "nobucket").await;
    assert_eq!(a[0]["code"], "not_found", "{}", a[0]);
    let message = a[0]["response_data"]["message"].as_str().unwrap();
    assert!(message.contains("NoSuchBucket"), "{message}");
    let a = attempts(&api, "s3").await;
    assert_eq!(a.len(), 2);
    assert_eq!(a[1]["code"], "rejected", "{}", a[1]);
    let message = a[1]["response_data"]["message"].as_str().unwrap();
    assert!(
        message.contains("the key template failed on this event"),
        "{message}"
    );
    let (_, d) = api
        .admin(
            "GET",
            "/api/v1/tenants/acme/destinations/s3/attempts?status=failed",
            None,
        )
        .await;
    assert_eq!(d["models"].as_array().unwrap().len(), 1);

    // The test endpoint writes the sample.
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations/s3/test",
            Some(json!({"topic": "user.created"})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    api.worker().run_once(Utc::now()).await.unwrap();
    let sample = format!("users/usr_1f8e2a/{}", r["id"].as_str().unwrap());
    assert_eq!(
        aws.list_objects(&bucket).await,
        [sample, "users/usr_7/evt_s3_1".to_string()]
    );
}

/// The S3 user metadata of an object, as a JSON object's text (keys
/// sorted: headers have no order that matters).
fn user_metadata(o: &outbound::net::http_client::HttpResponse) -> String {
    let meta: std::collections::BTreeMap<String, Value> = o
        .headers
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("x-amz-meta-")
                .map(|k| (k.to_string(), json!(v)))
        })
        .collect();
    json!(meta).to_string()
}

#[tokio::test]
async fn s3_default_keys_are_the_event_time_and_id() {
    // Outpost's default key has `:` in it: on the moto that checks no
    // signature (see `helpers::moto`).
    let moto = moto_unchecked();
    let aws = moto.client();
    let bucket = unique("default-keys");
    aws.create_bucket(&bucket).await;
    let db = TestDb::new().await;
    let endpoint = aws.endpoint.clone();
    let api = start(&db, |s| s.destinations.aws.endpoint = Some(endpoint)).await;
    create(
        &api,
        json!({"id": "s3", "type": "aws_s3", "topics": ["*"], "credentials": moto.credentials(),
               "config": {"bucket": bucket, "region": "us-east-1"}}),
    )
    .await;
    let data = json!({"note": "héllo", "n": 1});
    publish(&api, "evt_s3_d", &data).await;
    let before = Utc::now();
    api.worker().run_once(Utc::now()).await.unwrap();
    let after = Utc::now();
    assert_eq!(
        aws.list_objects(&bucket).await,
        ["2026-11-29T10:00:00.25Z_evt_s3_d.json"]
    );
    let o = aws
        .get_object(&bucket, "2026-11-29T10%3A00%3A00.25Z_evt_s3_d.json")
        .await;
    assert_eq!(o.status, 200, "{}", o.body);
    assert_eq!(o.body, data.to_string());
    check_metadata(&user_metadata(&o), "evt_s3_d", (before, after));
}

#[tokio::test]
async fn kinesis_records_wrap_data_and_metadata_with_a_templated_partition_key() {
    let moto = moto();
    let aws = moto.client();
    let stream = unique("clicks");
    aws.create_stream("eu-west-1", &stream).await;
    let db = TestDb::new().await;
    let api = start(&db, |_| {}).await;
    let creds = moto.credentials();

    let msgs = refused(
        &api,
        json!({"type": "aws_kinesis", "topics": ["*"], "credentials": creds,
        "config": {"stream_name": stream, "region": "eu-wset-1", "endpoint": "http://[oops]/",
                   "partition_key_template": "data.["}}),
    )
    .await;
    for field in [
        "config.region",
        "config.endpoint",
        "config.partition_key_template",
    ] {
        assert!(
            msgs.iter().any(|m| m.starts_with(field)),
            "{field}: {msgs:?}"
        );
    }

    let endpoint = aws.endpoint.clone();
    create(
        &api,
        json!({"id": "k", "type": "aws_kinesis", "topics": ["*"], "credentials": creds,
        "config": {"stream_name": stream, "region": "eu-west-1", "endpoint": endpoint}}),
    )
    .await;
    create(
        &api,
        json!({"id": "kt", "type": "aws_kinesis", "topics": ["*"], "credentials": creds,
        "config": {"stream_name": stream, "region": "eu-west-1", "endpoint": endpoint,
                   "partition_key_template": "data.user_id"}}),
    )
    .await;
    create(
        &api,
        json!({"id": "gone", "type": "aws_kinesis", "topics": ["*"], "credentials": creds,
        "config": {"stream_name": unique("missing"), "region": "eu-west-1", "endpoint": endpoint}}),
    )
    .await;

    let data = user();
    publish(&api, "evt_k_1", &data).await;
    let before = Utc::now();
    api.worker().run_once(Utc::now()).await.unwrap();
    let after = Utc::now();

    let mut records = aws.records("eu-west-1", &stream).await;
    records.sort();
    let keys: Vec<&str> = records.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["evt_k_1", "usr_7"]);
    for (_, bytes) in &records {
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(&format!("{{\"data\":{data},\"metadata\":{{")),
            "{text}"
        );
        let record: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(record["data"], data);
        check_metadata(&record["metadata"].to_string(), "evt_k_1", (before, after));
    }
    let a = attempts(&api, "k").await;
    assert_eq!(a[0]["code"], "200");
    assert!(a[0]["response_data"]["body"]
        .as_str()
        .unwrap()
        .contains("SequenceNumber"));
    let a = attempts(&api, "gone").await;
    assert_eq!(a[0]["code"], "not_found", "{}", a[0]);
    assert!(
        a[0]["response_data"]["message"]
            .as_str()
            .unwrap()
            .contains("ResourceNotFoundException"),
        "{}",
        a[0]
    );

    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations/k/test",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 202);
    api.worker().run_once(Utc::now()).await.unwrap();
    assert_eq!(aws.records("eu-west-1", &stream).await.len(), 3);
}

#[tokio::test]
async fn kinesis_records_are_the_data_alone_when_the_envelope_is_off() {
    let moto = moto();
    let aws = moto.client();
    let stream = unique("bare");
    aws.create_stream("us-west-2", &stream).await;
    let db = TestDb::new().await;
    let endpoint = aws.endpoint.clone();
    let api = start(&db, |s| {
        s.destinations.aws.kinesis_endpoint = Some(endpoint);
        s.destinations.aws.kinesis_metadata_in_payload = false;
    })
    .await;
    create(&api, json!({"id": "k", "type": "aws_kinesis", "topics": ["*"], "credentials": moto.credentials(),
        "config": {"stream_name": stream, "region": "us-west-2", "partition_key_template": "email"}})).await;
    let data = user();
    publish(&api, "evt_k_2", &data).await;
    api.worker().run_once(Utc::now()).await.unwrap();
    let records = aws.records("us-west-2", &stream).await;
    assert_eq!(
        records,
        [("ada@example.com".to_string(), data.to_string().into_bytes())]
    );
}

#[tokio::test]
async fn aws_destinations_on_blocked_addresses_are_refused() {
    let moto = moto();
    let aws = moto.client();
    let queue = aws.create_queue(&unique("guarded")).await;
    let db = TestDb::new().await;
    let endpoint = aws.endpoint.clone();
    // Created while loopback is allowed ...
    let api = start(&db, |s| {
        s.destinations.aws.s3_endpoint = Some(endpoint.clone())
    })
    .await;
    let creds = moto.credentials();
    create(
        &api,
        json!({"id": "sqs", "type": "aws_sqs", "topics": ["*"], "credentials": creds,
        "config": {"queue_url": queue}}),
    )
    .await;
    create(
        &api,
        json!({"id": "s3", "type": "aws_s3", "topics": ["*"], "credentials": creds,
        "config": {"bucket": "guarded", "region": "us-east-1"}}),
    )
    .await;
    create(
        &api,
        json!({"id": "kinesis", "type": "aws_kinesis", "topics": ["*"], "credentials": creds,
        "config": {"stream_name": "s", "region": "us-east-1", "endpoint": endpoint}}),
    )
    .await;
    publish(&api, "evt_guard", &user()).await;
    // ... then sent by a worker that allows nothing private: the guard
    // refuses the address before any connection.
    let strict = worker(&db, |s| {
        s.delivery.allowed_networks = vec![];
        s.destinations.aws.s3_endpoint = Some(endpoint.clone());
    })
    .await;
    strict.run_once(Utc::now()).await.unwrap();
    for d in ["sqs", "s3", "kinesis"] {
        let a = attempts(&api, d).await;
        assert_eq!(a.len(), 1, "{d}");
        assert_eq!(a[0]["code"], "blocked_address", "{d}: {}", a[0]);
    }
    assert!(aws.receive(&queue).await.is_empty());

    // And with the allowlist emptied, such destinations are refused at
    // creation, naming the field.
    let db = TestDb::new().await;
    let api = start(&db, |s| s.delivery.allowed_networks = vec![]).await;
    let msgs = refused(
        &api,
        json!({"type": "aws_sqs", "topics": ["*"], "credentials": creds,
        "config": {"queue_url": queue}}),
    )
    .await;
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("config.queue_url: host 127.0.0.1")),
        "{msgs:?}"
    );
    let msgs = refused(&api, json!({"type": "aws_kinesis", "topics": ["*"], "credentials": creds,
        "config": {"stream_name": "s", "region": "us-east-1", "endpoint": "http://169.254.169.254/"}})).await;
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("config.endpoint: host 169.254.169.254")),
        "{msgs:?}"
    );
}
