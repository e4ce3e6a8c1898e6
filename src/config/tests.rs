//! The settings as an operator writes them: defaults, values, errors.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args as _;

use super::*;
use crate::destinations::kind::DestinationKind;
use crate::domain::signature::WebhookMode;

fn parse(args: &[&str]) -> Settings {
    Settings::from_args(args).unwrap()
}

fn error(args: &[&str]) -> String {
    Settings::from_args(args).unwrap_err().to_string()
}

#[test]
fn defaults_match_the_design() {
    let s = parse(&[]);
    assert_eq!(s.database.url, None);
    assert_eq!(s.database.data_dir, PathBuf::from("./.outbound"));
    assert_eq!(s.api.port, 3333);
    assert_eq!(s.api.host, "127.0.0.1");
    assert_eq!(s.delivery.retry_interval, Duration::from_secs(30));
    assert_eq!(s.delivery.max_retry_limit, 10);
    assert_eq!(s.delivery.timeout, Duration::from_secs(5));
    assert_eq!(s.delivery.disable_after_failures, 20);
    assert_eq!(s.delivery.concurrency, 64);
    assert_eq!(s.destinations.webhook.mode, WebhookMode::Default);
    assert_eq!(s.retention.days, 7);
    assert_eq!(s.topics.topics, None);
    assert_eq!(s.delivery.lease, Duration::from_secs(30));
    assert_eq!(s.destinations.webhook.header_prefix, "x-outpost-");
    assert!(!s.topics.validate_schema);
    assert!(s.destinations.aws.kinesis_metadata_in_payload);
    assert_eq!(s.destinations.aws.region, "us-east-1");
    assert_eq!(s.destinations.aws.endpoint, None);
}

#[test]
fn aws_endpoints_and_kinesis_payload() {
    let s = parse(&[
        "--aws-endpoint-url",
        "http://127.0.0.1:5000/",
        "--aws-endpoint-url-s3",
        "http://s3.local:9000",
        "--aws-region",
        "eu-west-1",
        "--destinations-aws-kinesis-metadata-in-payload",
        "false",
    ]);
    let aws = &s.destinations.aws;
    assert_eq!(aws.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
    assert_eq!(aws.s3_endpoint.as_deref(), Some("http://s3.local:9000"));
    assert_eq!(aws.sqs_endpoint, None);
    assert_eq!(aws.region, "eu-west-1");
    assert!(!aws.kinesis_metadata_in_payload);
    let err = error(&["--aws-endpoint-url-sqs", "localhost:4566"]);
    assert!(err.contains("AWS_ENDPOINT_URL_SQS"), "{err}");
    let err = error(&["--aws-endpoint-url", "http://h/path"]);
    assert!(err.contains("AWS_ENDPOINT_URL"), "{err}");
    let err = error(&["--aws-region", "Europe"]);
    assert!(err.contains("AWS_REGION"), "{err}");
}

#[test]
fn postgres_url_is_an_alias() {
    let s = parse(&["--postgres-url", "postgres://x/y"]);
    assert_eq!(s.database.url.as_deref(), Some("postgres://x/y"));
    let s = parse(&[
        "--postgres-url",
        "postgres://x/y",
        "--database-url",
        "postgres://a/b",
    ]);
    assert_eq!(s.database.url.as_deref(), Some("postgres://a/b"));
}

#[test]
fn lists_and_schedules_parse() {
    let s = parse(&[
        "--topics",
        "user.created, user.updated,,",
        "--retry-schedule",
        "5,60,600",
        "--destinations-webhook-mode",
        "standard",
    ]);
    assert_eq!(
        s.topics.topics,
        Some(vec!["user.created".into(), "user.updated".into()])
    );
    assert_eq!(
        s.delivery.retry_schedule,
        Some(vec![
            Duration::from_secs(5),
            Duration::from_secs(60),
            Duration::from_secs(600)
        ])
    );
    assert_eq!(s.destinations.webhook.mode, WebhookMode::Standard);

    let s = parse(&["--retry-schedule", " 5, ,60,", "--api-port", " 8080 "]);
    assert_eq!(
        s.delivery.retry_schedule,
        Some(vec![Duration::from_secs(5), Duration::from_secs(60)])
    );
    assert_eq!(s.api.port, 8080);
}

#[test]
fn other_values_are_read_as_before() {
    let s = parse(&[
        "--destinations-webhook-header-prefix",
        "X-Acme-",
        "--topics-validate-schema",
        "1",
        "--destinations-webhook-allowed-networks",
        "10.0.0.0/8, 127.0.0.0/8",
    ]);
    assert_eq!(s.destinations.webhook.header_prefix, "x-acme-");
    assert!(s.topics.validate_schema);
    assert_eq!(
        s.delivery.allowed_networks,
        vec!["10.0.0.0/8".to_string(), "127.0.0.0/8".to_string()]
    );
    assert!(
        !parse(&["--topics-validate-schema", "false"])
            .topics
            .validate_schema
    );
    let err = error(&["--topics-validate-schema", "yes"]);
    assert!(err.contains("TOPICS_VALIDATE_SCHEMA"), "{err}");
}

#[test]
fn bad_values_name_the_variable() {
    let err = error(&["--api-port", "http"]);
    assert!(err.contains("API_PORT"), "{err}");
    let err = error(&["--log-retention-days", "0"]);
    assert!(err.contains("between 1 and 3650"), "{err}");
    let err = error(&["--retry-schedule", "5,soon"]);
    assert!(err.contains("\"soon\""), "{err}");
    let err = error(&["--destinations-webhook-mode", "svix"]);
    assert!(err.contains("DESTINATIONS_WEBHOOK_MODE"), "{err}");
}

/// An empty value for a variable means unset: that is applied to the
/// environment before parsing (`setting`, tested end to end by
/// `tests/it/serve.rs`). An empty flag is a mistake, not a default.
#[test]
fn an_empty_flag_is_refused() {
    let err = error(&["--api-host", ""]);
    assert!(
        err.contains("API_HOST") && err.contains("must not be empty"),
        "{err}"
    );
    let err = error(&["--delivery-lease-seconds", " "]);
    assert!(err.contains("DELIVERY_LEASE_SECONDS"), "{err}");
}

#[test]
fn the_lease_defaults_to_three_timeouts_and_must_outlast_one() {
    let s = parse(&["--delivery-timeout-seconds", "20"]);
    assert_eq!(s.delivery.lease, Duration::from_secs(60));
    let s = parse(&[
        "--delivery-timeout-seconds",
        "60",
        "--delivery-lease-seconds",
        "61",
    ]);
    assert_eq!(s.delivery.lease, Duration::from_secs(61));
    let err = error(&[
        "--delivery-timeout-seconds",
        "60",
        "--delivery-lease-seconds",
        "60",
    ]);
    assert!(
        err.contains("DELIVERY_LEASE_SECONDS") && err.contains("longer than"),
        "{err}"
    );
}

/// Errors name the variable because each argument's value name is the
/// variable's name (`--api-port <API_PORT>`), and the flag is the
/// variable's name in kebab case. Checked for every setting, so a new
/// one cannot break the pattern unnoticed.
#[test]
fn every_setting_is_a_variable_and_a_flag_of_the_same_name() {
    let command = Settings::augment_args(clap::Command::new("outbound"));
    let mut vars = Vec::new();
    for arg in command.get_arguments() {
        let var = arg.get_env().and_then(|v| v.to_str()).unwrap_or_default();
        assert!(!var.is_empty(), "{} has no variable", arg.get_id());
        let flag = var.to_ascii_lowercase().replace('_', "-");
        assert_eq!(arg.get_long(), Some(flag.as_str()));
        let names: Vec<_> = arg.get_value_names().unwrap_or_default().to_vec();
        assert_eq!(names, [var], "value name of {var}");
        assert!(arg.is_global_set(), "{var} is global");
        vars.push(var.to_string());
    }
    // DESIGN.md §7's names.
    for var in [
        "DATABASE_URL",
        "POSTGRES_URL",
        "OUTBOUND_DATA_DIR",
        "API_PORT",
        "API_KEY",
        "API_JWT_SECRET",
        "AES_ENCRYPTION_SECRET",
        "TOPICS",
        "TOPICS_CATALOG",
        "RETRY_INTERVAL_SECONDS",
        "MAX_RETRY_LIMIT",
        "RETRY_SCHEDULE",
        "DELIVERY_TIMEOUT_SECONDS",
        "ALERT_CONSECUTIVE_FAILURE_COUNT",
        "DESTINATIONS_WEBHOOK_MODE",
        "DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS",
        "LOG_RETENTION_DAYS",
        "DELIVERY_CONCURRENCY",
    ] {
        assert!(vars.iter().any(|v| v == var), "{var} is missing");
    }
}

#[test]
fn operator_event_topics_need_a_sink_and_known_names() {
    let base = ["--operator-events-topics", "*"];
    assert!(Settings::from_args(base).is_err(), "no sink");
    let s = Settings::from_args([
        "--operator-events-topics",
        "alert.destination.disabled, tenant.subscription.updated",
        "--operator-events-http-url",
        "http://ops.internal/events",
    ])
    .unwrap();
    assert!(s.operator_events.topics.disabled && s.operator_events.topics.subscription_updated);
    assert!(!s.operator_events.topics.exhausted_retries);
    assert!(s.operator_events.auto_disable, "on by default");
    assert!(Settings::from_args([
        "--operator-events-topics",
        "alert.nope",
        "--operator-events-http-url",
        "http://ops.internal/events",
    ])
    .is_err());
}

#[test]
fn a_queue_sink_and_the_deployment_id_are_read_from_their_variables() {
    let s = Settings::from_args([
        "--operator-events-topics",
        "*",
        "--operator-events-rabbitmq-server-url",
        "amqp://ops:pw@rabbit.internal:5672/",
        "--operator-events-rabbitmq-exchange",
        "ops",
        "--deployment-id",
        "eu-1",
    ])
    .unwrap();
    let ops = &s.operator_events;
    assert!(ops.has_sink() && ops.http_url.is_none());
    assert_eq!(ops.deployment_id.as_deref(), Some("eu-1"));
    let queue = ops.queue.as_ref().expect("a queue sink");
    assert_eq!(queue.kind, DestinationKind::Rabbitmq);
    assert_eq!(queue.config["server_url"], "rabbit.internal:5672");
    assert!(
        !format!("{s:?}").contains("pw@"),
        "no secret in debug output"
    );

    let err = Settings::from_args([
        "--operator-events-http-url",
        "http://ops.internal/events",
        "--operator-events-gcp-pubsub-project-id",
        "acme-ops",
        "--operator-events-gcp-pubsub-topic-id",
        "ops",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "OPERATOR_EVENTS_HTTP_URL and OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID are both set"
        ),
        "{err}"
    );
    assert!(parse(&[]).operator_events.deployment_id.is_none());
}

/// `--help` shows `[env: NAME=value]` for a variable that is set:
/// never for one holding a secret.
#[test]
fn secret_settings_hide_their_values_in_help() {
    let command = Settings::augment_args(clap::Command::new("outbound"));
    for var in [
        "OPERATOR_EVENTS_HTTP_SIGNING_SECRET",
        "OPERATOR_EVENTS_AWS_SQS_ACCESS_KEY_ID",
        "OPERATOR_EVENTS_AWS_SQS_SECRET_ACCESS_KEY",
        "OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS",
        "OPERATOR_EVENTS_RABBITMQ_SERVER_URL",
    ] {
        let arg = command
            .get_arguments()
            .find(|a| a.get_env().and_then(|v| v.to_str()) == Some(var))
            .unwrap_or_else(|| panic!("{var} is missing"));
        assert!(arg.is_hide_env_values_set(), "{var} shows its value");
    }
}

#[test]
fn the_hookdeck_ingest_url_is_an_http_url() {
    assert_eq!(
        parse(&[]).destinations.hookdeck.ingest_url,
        "https://hkdk.events"
    );
    let s = parse(&[
        "--destinations-hookdeck-ingest-url",
        "http://127.0.0.1:9000/",
    ]);
    assert_eq!(s.destinations.hookdeck.ingest_url, "http://127.0.0.1:9000");
    let err = error(&["--destinations-hookdeck-ingest-url", "hkdk.events"]);
    assert!(err.contains("DESTINATIONS_HOOKDECK_INGEST_URL"), "{err}");
}

/// docs/configuration.md is where an operator looks a variable up: every
/// setting's variable is there or on a page it sends the reader to, spelled
/// in full, and every variable it names is a setting (or one the process or
/// its libraries read, listed here).
#[test]
fn the_configuration_page_names_every_variable_and_no_other() {
    let page = include_str!("../../docs/configuration.md");
    let elsewhere = [
        include_str!("../../docs/api.md"),
        include_str!("../../docs/operator-events.md"),
        include_str!("../../docs/destinations/aws.md"),
    ]
    .concat();
    let command = Settings::augment_args(clap::Command::new("outbound"));
    let vars: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    assert!(vars.len() > 50, "{vars:?}");
    let missing: Vec<&String> = vars
        .iter()
        .filter(|v| !(page.to_string() + &elsewhere).contains(&format!("`{v}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not on docs/configuration.md: {missing:?}"
    );
    // Read by the process or its libraries rather than by clap.
    let outside = [
        "RUST_LOG",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_KINESIS",
        "AWS_REGION",
        "TEST_DATABASE_URL",
        "RABBITMQ_SERVER",
        "OUTBOUND_SCREENSHOTS",
    ];
    let named: Vec<&str> = page
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.len() > 3
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    let unknown: Vec<&&str> = named
        .iter()
        .filter(|w| !vars.iter().any(|v| v == *w) && !outside.contains(w))
        .collect();
    assert!(
        unknown.is_empty(),
        "on docs/configuration.md but not a setting: {unknown:?}"
    );
}

/// Every variable outbound's settings declare.
fn declared() -> Vec<String> {
    Settings::augment_args(clap::Command::new("outbound"))
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

fn env(pairs: &[(&str, &str)]) -> Environment {
    pairs.iter().copied().collect()
}

#[test]
fn no_variable_is_both_declared_and_refused() {
    let declared = declared();
    let mut seen = std::collections::BTreeSet::new();
    for entry in outpost::OUTPOST_ONLY {
        assert!(
            !declared.iter().any(|d| d == entry.name),
            "{} is declared and also in OUTPOST_ONLY",
            entry.name
        );
        assert!(seen.insert(entry.name), "{} is listed twice", entry.name);
        // Publishing from a queue is `intake`'s (only the idempotency
        // window, which outbound has no use for, is listed here).
        assert!(
            !entry.name.starts_with("PUBLISH_") || entry.name == "PUBLISH_IDEMPOTENCY_KEY_TTL",
            "{}",
            entry.name
        );
    }
}

/// Outpost's variables (its `internal/config` structs' `env` tags, v1),
/// each either declared by outbound, listed in `outpost::OUTPOST_ONLY`, or
/// left to the modules that implement it (`PUBLISH_*`,
/// `TOPICS_ALLOW_WILDCARDS`).
const OUTPOST_VARIABLES: &str = "AES_ENCRYPTION_SECRET ALERT_AUTO_DISABLE_DESTINATION \
ALERT_CONSECUTIVE_FAILURE_COUNT ALERT_EXHAUSTED_RETRIES_WINDOW_SECONDS API_JWT_SECRET API_KEY \
API_PORT AWS_SQS_ACCESS_KEY_ID AWS_SQS_DELIVERY_DLQ AWS_SQS_DELIVERY_QUEUE AWS_SQS_ENDPOINT \
AWS_SQS_LOG_DLQ AWS_SQS_LOG_QUEUE AWS_SQS_REGION AWS_SQS_SECRET_ACCESS_KEY \
AZURE_SERVICEBUS_CLIENT_ID AZURE_SERVICEBUS_CLIENT_SECRET AZURE_SERVICEBUS_CONNECTION_STRING \
AZURE_SERVICEBUS_DELIVERY_SUBSCRIPTION AZURE_SERVICEBUS_DELIVERY_TOPIC \
AZURE_SERVICEBUS_LOG_SUBSCRIPTION AZURE_SERVICEBUS_LOG_TOPIC AZURE_SERVICEBUS_NAMESPACE \
AZURE_SERVICEBUS_RESOURCE_GROUP AZURE_SERVICEBUS_SUBSCRIPTION_ID AZURE_SERVICEBUS_TENANT_ID \
CLICKHOUSE_ADDR CLICKHOUSE_DATABASE CLICKHOUSE_LOG_RETENTION_TTL_DAYS CLICKHOUSE_PASSWORD \
CLICKHOUSE_TLS_ENABLED CLICKHOUSE_USERNAME DELIVERY_IDEMPOTENCY_KEY_TTL \
DELIVERY_MAX_CONCURRENCY DELIVERY_TIMEOUT_SECONDS DEPLOYMENT_ID \
DESTINATIONS_AWS_KINESIS_METADATA_IN_PAYLOAD DESTINATIONS_INCLUDE_MILLISECOND_TIMESTAMP \
DESTINATIONS_METADATA_PATH DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_EVENT_ID_HEADER \
DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_SIGNATURE_HEADER \
DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_TIMESTAMP_HEADER \
DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_TOPIC_HEADER DESTINATIONS_WEBHOOK_EVENT_ID_HEADER_NAME \
DESTINATIONS_WEBHOOK_HEADER_PREFIX DESTINATIONS_WEBHOOK_MAX_RESPONSE_BODY_BYTES \
DESTINATIONS_WEBHOOK_MODE DESTINATIONS_WEBHOOK_PROXY_URL DESTINATIONS_WEBHOOK_SIGNATURE_ALGORITHM \
DESTINATIONS_WEBHOOK_SIGNATURE_CONTENT_TEMPLATE DESTINATIONS_WEBHOOK_SIGNATURE_ENCODING \
DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_NAME DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_TEMPLATE \
DESTINATIONS_WEBHOOK_SIGNING_SECRET_TEMPLATE DESTINATIONS_WEBHOOK_TIMESTAMP_HEADER_NAME \
DESTINATIONS_WEBHOOK_TOPIC_HEADER_NAME DISABLE_TELEMETRY GCP_PUBSUB_DELIVERY_DLQ_SUBSCRIPTION \
GCP_PUBSUB_DELIVERY_DLQ_TOPIC GCP_PUBSUB_DELIVERY_SUBSCRIPTION GCP_PUBSUB_DELIVERY_TOPIC \
GCP_PUBSUB_LOG_DLQ_SUBSCRIPTION GCP_PUBSUB_LOG_DLQ_TOPIC GCP_PUBSUB_LOG_SUBSCRIPTION \
GCP_PUBSUB_LOG_TOPIC GCP_PUBSUB_PROJECT GCP_PUBSUB_SERVICE_ACCOUNT_CREDENTIALS GIN_MODE \
HTTP_USER_AGENT IDGEN_ATTEMPT_PREFIX IDGEN_DESTINATION_PREFIX IDGEN_EVENT_PREFIX IDGEN_TYPE \
LOG_BATCH_SIZE LOG_BATCH_THRESHOLD_SECONDS LOG_LEVEL LOG_MAX_CONCURRENCY \
MAX_DESTINATIONS_PER_TENANT MAX_RETRY_LIMIT MQS_AUTO_PROVISION \
OPERATOR_EVENTS_AWS_SQS_ACCESS_KEY_ID OPERATOR_EVENTS_AWS_SQS_ENDPOINT \
OPERATOR_EVENTS_AWS_SQS_QUEUE_URL OPERATOR_EVENTS_AWS_SQS_REGION \
OPERATOR_EVENTS_AWS_SQS_SECRET_ACCESS_KEY OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS \
OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID \
OPERATOR_EVENTS_HTTP_SIGNING_SECRET OPERATOR_EVENTS_HTTP_URL OPERATOR_EVENTS_RABBITMQ_EXCHANGE \
OPERATOR_EVENTS_RABBITMQ_SERVER_URL OPERATOR_EVENTS_TOPICS OTEL_EXPORTER OTEL_PROTOCOL \
OTEL_SERVICE_NAME PORTAL_BRAND_COLOR PORTAL_DISABLE_OUTPOST_BRANDING \
PORTAL_ENABLE_DESTINATION_FILTER PORTAL_ENABLE_WEBHOOK_CUSTOM_HEADERS PORTAL_FAVICON_URL \
PORTAL_FORCE_THEME PORTAL_LOGO PORTAL_LOGO_DARK PORTAL_ORGANIZATION_NAME PORTAL_PROXY_URL \
PORTAL_REFERER_URL PORTAL_REFRESH_URL POSTGRES_URL PUBLISH_AWS_SQS_ACCESS_KEY_ID \
PUBLISH_AWS_SQS_ENDPOINT PUBLISH_AWS_SQS_QUEUE PUBLISH_AWS_SQS_REGION \
PUBLISH_AWS_SQS_SECRET_ACCESS_KEY PUBLISH_AZURE_SERVICEBUS_CONNECTION_STRING \
PUBLISH_AZURE_SERVICEBUS_SUBSCRIPTION PUBLISH_AZURE_SERVICEBUS_TOPIC PUBLISH_GCP_PUBSUB_PROJECT \
PUBLISH_GCP_PUBSUB_SERVICE_ACCOUNT_CREDENTIALS PUBLISH_GCP_PUBSUB_SUBSCRIPTION \
PUBLISH_GCP_PUBSUB_TOPIC PUBLISH_IDEMPOTENCY_KEY_TTL PUBLISH_MAX_CONCURRENCY \
PUBLISH_RABBITMQ_EXCHANGE PUBLISH_RABBITMQ_QUEUE PUBLISH_RABBITMQ_SERVER_URL \
RABBITMQ_DELIVERY_DLQ RABBITMQ_DELIVERY_QUEUE RABBITMQ_EXCHANGE RABBITMQ_LOG_DLQ \
RABBITMQ_LOG_QUEUE RABBITMQ_SERVER_URL REDIS_CLUSTER_ENABLED REDIS_DATABASE \
REDIS_DEV_CLUSTER_HOST_OVERRIDE REDIS_HOST REDIS_PASSWORD REDIS_PORT REDIS_TLS_ENABLED \
REDIS_USERNAME RETRY_INTERVAL_SECONDS RETRY_POLL_BACKOFF_MS RETRY_SCHEDULE \
RETRY_VISIBILITY_TIMEOUT_SECONDS SERVICE TELEMETRY_BATCH_INTERVAL TELEMETRY_BATCH_SIZE \
TELEMETRY_HOOKDECK_SOURCE_URL TELEMETRY_SENTRY_DSN TOPICS TOPICS_ALLOW_WILDCARDS";

#[test]
fn every_outpost_variable_is_declared_refused_or_ignored() {
    let declared = declared();
    let listed: Vec<&str> = outpost::OUTPOST_ONLY.iter().map(|e| e.name).collect();
    let missing: Vec<&str> = OUTPOST_VARIABLES
        .split_whitespace()
        .filter(|v| !declared.iter().any(|d| d == v) && !listed.contains(v))
        // Read by the log set-up, before the settings.
        .filter(|v| *v != "LOG_LEVEL")
        .collect();
    assert!(
        missing.is_empty(),
        "neither declared nor listed: {missing:?}"
    );
}

#[test]
fn a_set_outpost_variable_is_refused_by_name() {
    let err = Settings::from_args_and_env(
        std::iter::empty::<&str>(),
        &env(&[
            ("REDIS_HOST", "redis"),
            ("IDGEN_TYPE", "uuidv7"),
            ("HOME", "/root"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("REDIS_HOST: outbound keeps"), "{err}");
    assert!(err.contains("IDGEN_TYPE: outbound generates"), "{err}");
    // Blank counts as unset; ignored ones are warnings.
    let s = Settings::from_args_and_env(
        std::iter::empty::<&str>(),
        &env(&[
            ("REDIS_HOST", " "),
            ("GIN_MODE", "release"),
            ("SERVICE", "all"),
        ]),
    )
    .unwrap();
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].starts_with("GIN_MODE is set but has no effect"));
    let err =
        Settings::from_args_and_env(std::iter::empty::<&str>(), &env(&[("SERVICE", "delivery")]))
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("SERVICE=\"delivery\" is not supported"),
        "{err}"
    );
    let ok = Settings::from_args_and_env(
        std::iter::empty::<&str>(),
        &env(&[(
            "DESTINATIONS_WEBHOOK_SIGNING_SECRET_TEMPLATE",
            "whsec_{{.RandomHex}}",
        )]),
    );
    assert!(ok.is_ok());
}

#[test]
fn the_environment_map_sets_declared_settings_and_flags_win() {
    let e = env(&[("API_PORT", "4000"), ("DELIVERY_MAX_CONCURRENCY", "8")]);
    let s = Settings::from_args_and_env(std::iter::empty::<&str>(), &e).unwrap();
    assert_eq!(s.api.port, 4000);
    assert_eq!(s.delivery.concurrency, 8);
    let s = Settings::from_args_and_env(["--api-port", "5000", "--delivery-concurrency", "9"], &e)
        .unwrap();
    assert_eq!(s.api.port, 5000);
    assert_eq!(s.delivery.concurrency, 9);
    let err =
        Settings::from_args_and_env(std::iter::empty::<&str>(), &env(&[("API_PORT", "http")]))
            .unwrap_err()
            .to_string();
    assert!(err.contains("API_PORT"), "{err}");
}

#[test]
fn webhook_header_names_as_outpost_reads_them() {
    use crate::destinations::webhook::SystemHeaders;
    let s = Settings::from_args_and_env(
        std::iter::empty::<&str>(),
        &env(&[
            ("DESTINATIONS_WEBHOOK_EVENT_ID_HEADER_NAME", "X-Request-Id"),
            ("DESTINATIONS_WEBHOOK_TOPIC_HEADER_NAME", ""),
            (
                "DESTINATIONS_WEBHOOK_DISABLE_DEFAULT_TIMESTAMP_HEADER",
                "true",
            ),
            ("DESTINATIONS_WEBHOOK_SIGNATURE_ENCODING", "base64"),
        ]),
    )
    .unwrap();
    let h = &s.destinations.webhook.headers;
    assert_eq!(
        *h,
        SystemHeaders {
            event_id: Some("x-request-id".into()),
            signature: Some("x-outpost-signature".into()),
            timestamp: None,
            topic: None,
        }
    );
    assert!(s.warnings[0].contains("DISABLE_DEFAULT_TIMESTAMP_HEADER is deprecated"));
    // A prefix of white space is no prefix.
    let s = Settings::from_args_and_env(
        std::iter::empty::<&str>(),
        &env(&[("DESTINATIONS_WEBHOOK_HEADER_PREFIX", " ")]),
    )
    .unwrap();
    assert_eq!(
        s.destinations.webhook.headers.signature.as_deref(),
        Some("signature")
    );
    for (pairs, message) in [
        (
            vec![
                ("DESTINATIONS_WEBHOOK_EVENT_ID_HEADER_NAME", "x-a"),
                ("DESTINATIONS_WEBHOOK_TOPIC_HEADER_NAME", "X-A"),
            ],
            "DESTINATIONS_WEBHOOK_EVENT_ID_HEADER_NAME and DESTINATIONS_WEBHOOK_TOPIC_HEADER_NAME \
             both name the header x-a",
        ),
        (
            vec![("DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_NAME", "content-type")],
            "DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_NAME: content-type is a header",
        ),
        (
            vec![("DESTINATIONS_WEBHOOK_SIGNATURE_HEADER_NAME", "x sig")],
            "expected a header name",
        ),
        (
            vec![("DESTINATIONS_WEBHOOK_SIGNATURE_ALGORITHM", "hmac-sha1")],
            "hmac-sha1 is not supported by outbound",
        ),
        (
            vec![("DESTINATIONS_WEBHOOK_SIGNATURE_ENCODING", "base32")],
            "expected hex or base64",
        ),
        (
            vec![(
                "DESTINATIONS_WEBHOOK_SIGNATURE_CONTENT_TEMPLATE",
                "{{.Timestamp}}",
            )],
            "DESTINATIONS_WEBHOOK_SIGNATURE_CONTENT_TEMPLATE: {{.Timestamp}} is not supported",
        ),
        (
            vec![("DESTINATIONS_WEBHOOK_PROXY_URL", "socks5://p:1080")],
            "DESTINATIONS_WEBHOOK_PROXY_URL",
        ),
    ] {
        let err = Settings::from_args_and_env(std::iter::empty::<&str>(), &env(&pairs))
            .unwrap_err()
            .to_string();
        assert!(err.contains(message), "{pairs:?}: {err}");
    }
}

#[test]
fn outposts_empty_alert_values() {
    let s = Settings::from_args_and_env(
        std::iter::empty::<&str>(),
        &env(&[("ALERT_CONSECUTIVE_FAILURE_COUNT", "")]),
    )
    .unwrap();
    assert_eq!(s.delivery.disable_after_failures, 0);
    let err = Settings::from_args_and_env(
        std::iter::empty::<&str>(),
        &env(&[("ALERT_EXHAUSTED_RETRIES_WINDOW_SECONDS", "")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("OPERATOR_EVENTS_TOPICS"), "{err}");
}
