//! The AWS harness: one moto server (a local emulator of SQS, S3, Kinesis
//! and IAM) per test run, started on first use from the installed Python
//! package (`python3 -m pip install 'moto[server]'`), unless
//! `TEST_MOTO_URL` names one already running.
//!
//! moto runs with request signing **checked**: the harness creates an IAM
//! user with an access key, then turns moto's authentication on, so every
//! request — the senders' and the tests' own — must carry a valid SigV4
//! signature of that key. A wrong key or secret is refused as AWS refuses
//! it (403 InvalidClientTokenId / SignatureDoesNotMatch).
//!
//! One limit of moto's check: it verifies S3 signatures against the
//! *decoded* object path, so an object key with characters that must be
//! percent-encoded (`:` in Outpost's default keys, spaces) fails it even
//! from AWS's own SDKs, while AWS accepts them. Tests of such keys use a
//! second server, [`moto_unchecked`], with authentication left off.
//!
//! Each server is a child of the test process that exits when the test
//! process does, however it ends: it watches its stdin, a pipe only this
//! process holds, and quits when the pipe closes.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use hyper::body::Bytes;
use hyper::Method;
use outbound::destinations::aws::sign::{signature_headers, Credentials, Flavor, Unsigned};
use outbound::domain::ssrf::NetworkPolicy;
use outbound::net::http_client::{HttpClientConfig, HttpResponse, HttpSender};
use serde_json::{json, Value};

/// The moto server of this run and the access key it accepts.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub key: String,
    pub secret: String,
    /// Held open for the server's lifetime (see the module comment).
    _server: Option<Mutex<(Child, ChildStdin)>>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();
static UNCHECKED: OnceLock<Moto> = OnceLock::new();

/// The account moto files everything under.
pub const ACCOUNT: &str = "123456789012";

/// Started (and authentication turned on) on first use.
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(|| set_up_on_a_thread(true))
}

/// A server of its own that checks no signature (see the module comment).
pub fn moto_unchecked() -> &'static Moto {
    UNCHECKED.get_or_init(|| set_up_on_a_thread(false))
}

/// Set up on a thread of its own: tests run on their own runtimes and this
/// must not depend on (or block) any of them.
fn set_up_on_a_thread(checked: bool) -> Moto {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(set_up(checked))
    })
    .join()
    // The set-up's own message (moto not installed, say) is the test's.
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Quits when stdin closes, then serves on an ephemeral port and says
/// which on stderr (` * Running on http://127.0.0.1:<port>`).
const LAUNCHER: &str = r#"
import os, sys, threading
def watch():
    sys.stdin.buffer.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(["-H", "127.0.0.1", "-p", "0"])
"#;

fn start_server() -> (String, Child, ChildStdin) {
    let mut child = Command::new("python3")
        .args(["-c", LAUNCHER])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "python3 not found ({e}): run ./test.sh, which installs it, \
                 or apt-get install python3 python3-pip"
            )
        });
    let stdin = child.stdin.take().expect("moto stdin");
    let stderr = child.stderr.take().expect("moto stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the address, then keeps draining the request log so that the
    // server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("Running on http://") {
                let _ = tx.send(Ok(line[at + "Running on ".len()..].trim().to_string()));
            } else if seen.len() < 40 {
                seen.push(line);
            }
        }
        let _ = tx.send(Err(seen.join("\n")));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(endpoint)) => (endpoint, child, stdin),
        Ok(Err(output)) => match output
            .lines()
            .find(|l| l.starts_with("ModuleNotFoundError"))
        {
            Some(missing) => panic!(
                "moto[server] not found ({missing}): run ./test.sh, which installs it, \
                 or python3 -m pip install 'moto[server]==5.2.1'"
            ),
            None => panic!("moto did not start:\n{output}"),
        },
        Err(_) => panic!("moto did not start within 60 s"),
    }
}

async fn set_up(checked: bool) -> Moto {
    let given = std::env::var("TEST_MOTO_URL")
        .ok()
        .filter(|u| checked && !u.is_empty());
    let (endpoint, server) = match given {
        Some(url) => (url.trim_end_matches('/').to_string(), None),
        None => {
            let (endpoint, child, stdin) = start_server();
            (endpoint, Some(Mutex::new((child, stdin))))
        }
    };
    if !checked {
        return Moto {
            endpoint,
            key: "AKIAUNCHECKED".into(),
            secret: "unchecked".into(),
            _server: server,
        };
    }
    // Authentication off (moto's default): an IAM user allowed everything,
    // with an access key. Then authentication on.
    let setup = Client::new(&endpoint, Credentials::new("AKIASETUP", "setup", None));
    let user = format!("outbound-test-{}", std::process::id());
    let call = |action: &'static str, extra: Vec<(&'static str, String)>| {
        let setup = &setup;
        let user = user.clone();
        async move {
            let mut params = vec![("Action", action.to_string()), ("UserName", user)];
            params.extend(extra);
            params.push(("Version", "2010-05-08".to_string()));
            let (status, body) = setup.query("iam", "us-east-1", &params).await;
            assert_eq!(status, 200, "IAM {action}: {body}");
            body
        }
    };
    call("CreateUser", vec![]).await;
    let policy = json!({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    call(
        "PutUserPolicy",
        vec![
            ("PolicyName", "everything".into()),
            ("PolicyDocument", policy.to_string()),
        ],
    )
    .await;
    let created = call("CreateAccessKey", vec![]).await;
    let key = xml_text(&created, "AccessKeyId").expect("AccessKeyId");
    let secret = xml_text(&created, "SecretAccessKey").expect("SecretAccessKey");
    let outcome = setup
        .http
        .post(
            &format!("{endpoint}/moto-api/reset-auth"),
            &[],
            Bytes::from_static(b"0"),
        )
        .await;
    let status = outcome.result.map(|r| r.status);
    assert_eq!(status, Ok(200), "turning moto's authentication on");
    Moto {
        endpoint,
        key,
        secret,
        _server: server,
    }
}

fn xml_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..end].to_string())
}

impl Moto {
    /// A client signing with the harness's key, for the calling test's
    /// runtime.
    pub fn client(&self) -> Client {
        Client::new(
            &self.endpoint,
            Credentials::new(&self.key, &self.secret, None),
        )
    }

    /// The destination credentials moto accepts.
    pub fn credentials(&self) -> Value {
        json!({"key": self.key, "secret": self.secret})
    }
}

/// A unique name for a queue, bucket or stream of one test.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Signed calls to moto.
pub struct Client {
    pub endpoint: String,
    http: HttpSender,
    credentials: Arc<Credentials>,
}

impl Client {
    fn new(endpoint: &str, credentials: Credentials) -> Client {
        let http = HttpSender::new(HttpClientConfig {
            timeout: Duration::from_secs(30),
            policy: Arc::new(NetworkPolicy::parse("127.0.0.0/8").expect("policy")),
            ..HttpClientConfig::default()
        })
        .expect("HTTP client");
        Client {
            endpoint: endpoint.to_string(),
            http,
            credentials: Arc::new(credentials),
        }
    }

    /// A signed request; panics if moto cannot be reached.
    pub async fn send(
        &self,
        service: &str,
        region: &str,
        method: Method,
        path: &str,
        mut headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> HttpResponse {
        let url = format!("{}{path}", self.endpoint);
        let flavor = if service == "s3" {
            Flavor::S3
        } else {
            Flavor::Standard
        };
        let signed = signature_headers(
            &Unsigned {
                service,
                region,
                method: method.as_str(),
                url: &url,
                headers: &headers,
                body: &body,
                flavor,
            },
            &self.credentials,
            SystemTime::now(),
        )
        .expect("signing");
        headers.extend(signed);
        self.http
            .request(method, &url, &headers, body.into())
            .await
            .result
            .unwrap_or_else(|e| panic!("moto {service} {path}: {e:?}"))
    }

    /// An AWS JSON protocol call (`target` like `AmazonSQS.CreateQueue`).
    pub async fn json(
        &self,
        service: &str,
        region: &str,
        target: &str,
        body: Value,
    ) -> (u16, Value) {
        let version = if service == "sqs" { "1.0" } else { "1.1" };
        let headers = vec![
            (
                "content-type".to_string(),
                format!("application/x-amz-json-{version}"),
            ),
            ("x-amz-target".to_string(), target.to_string()),
        ];
        let r = self
            .send(
                service,
                region,
                Method::POST,
                "/",
                headers,
                body.to_string().into_bytes(),
            )
            .await;
        let value = serde_json::from_str(&r.body).unwrap_or(Value::String(r.body));
        (r.status, value)
    }

    /// An AWS query protocol call (form-encoded).
    pub async fn query(
        &self,
        service: &str,
        region: &str,
        params: &[(&str, String)],
    ) -> (u16, String) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let headers = vec![(
            "content-type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        )];
        let r = self
            .send(
                service,
                region,
                Method::POST,
                "/",
                headers,
                body.into_bytes(),
            )
            .await;
        (r.status, r.body)
    }

    /// A new SQS queue (FIFO when `name` ends in `.fifo`); its URL.
    pub async fn create_queue(&self, name: &str) -> String {
        let mut body = json!({"QueueName": name});
        if name.ends_with(".fifo") {
            body["Attributes"] = json!({"FifoQueue": "true"});
        }
        let (s, r) = self
            .json("sqs", "us-east-1", "AmazonSQS.CreateQueue", body)
            .await;
        assert_eq!(s, 200, "{r}");
        r["QueueUrl"].as_str().expect("QueueUrl").to_string()
    }

    /// The messages waiting on a queue, with their attributes.
    pub async fn receive(&self, queue_url: &str) -> Vec<Value> {
        let (s, r) = self
            .json(
                "sqs",
                "us-east-1",
                "AmazonSQS.ReceiveMessage",
                json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10,
                       "MessageAttributeNames": ["All"], "MessageSystemAttributeNames": ["All"]}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
        r["Messages"].as_array().cloned().unwrap_or_default()
    }

    pub async fn create_bucket(&self, bucket: &str) {
        let r = self
            .send(
                "s3",
                "us-east-1",
                Method::PUT,
                &format!("/{bucket}"),
                vec![],
                vec![],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    /// The keys in a bucket.
    pub async fn list_objects(&self, bucket: &str) -> Vec<String> {
        let r = self
            .send(
                "s3",
                "us-east-1",
                Method::GET,
                &format!("/{bucket}?list-type=2"),
                vec![],
                vec![],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    /// An object (already percent-encoded key).
    pub async fn get_object(&self, bucket: &str, encoded_key: &str) -> HttpResponse {
        self.send(
            "s3",
            "us-east-1",
            Method::GET,
            &format!("/{bucket}/{encoded_key}"),
            vec![],
            vec![],
        )
        .await
    }

    pub async fn create_stream(&self, region: &str, stream: &str) {
        let (s, r) = self
            .json(
                "kinesis",
                region,
                "Kinesis_20131202.CreateStream",
                json!({"StreamName": stream, "ShardCount": 1}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
    }

    /// Every record on a one-shard stream: (partition key, data bytes).
    pub async fn records(&self, region: &str, stream: &str) -> Vec<(String, Vec<u8>)> {
        use base64::Engine;
        let (s, it) = self
            .json(
                "kinesis",
                region,
                "Kinesis_20131202.GetShardIterator",
                json!({"StreamName": stream, "ShardId": "shardId-000000000000",
                       "ShardIteratorType": "TRIM_HORIZON"}),
            )
            .await;
        assert_eq!(s, 200, "{it}");
        let (s, r) = self
            .json(
                "kinesis",
                region,
                "Kinesis_20131202.GetRecords",
                json!({"ShardIterator": it["ShardIterator"]}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
        r["Records"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|rec| {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(rec["Data"].as_str().unwrap_or_default())
                    .expect("base64 record");
                (
                    rec["PartitionKey"].as_str().unwrap_or_default().to_string(),
                    data,
                )
            })
            .collect()
    }
}
