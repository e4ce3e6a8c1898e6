//! The destination types themselves: each one's fields, link and icon.
//!
//! This table is the one place a type is declared; the served documents,
//! the generated schemas and the credential handling all read it.

use super::fields::{DestinationType, Field, FieldKind, Pattern, SelectOption, SetupLink, TEXT};
use crate::destinations::kind::DestinationKind;

/// A 16×16 rounded tile in `$bg` with white `$glyph` markup on top; one
/// shape for every type keeps the icons original and consistent.
macro_rules! icon {
    ($bg:literal, $glyph:literal) => {
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16" fill="none">"#,
            r#"<rect width="16" height="16" rx="4" fill=""#,
            $bg,
            r#""/><g stroke="white" stroke-width="1.4" stroke-linecap="round" stroke-linejoin="round">"#,
            $glyph,
            "</g></svg>"
        )
    };
}

const URL_FIELD: Field = Field {
    key: "url",
    label: "Endpoint URL",
    description: "Where each event is sent as an HTTP POST",
    required: true,
    pattern: Some(Pattern::HttpUrl),
    ..TEXT
};

const CUSTOM_HEADERS_FIELD: Field = Field {
    key: "custom_headers",
    kind: FieldKind::KeyValueMap,
    label: "Custom headers",
    description: "Extra HTTP headers added to every request",
    key_placeholder: Some("Header name"),
    value_placeholder: Some("Header value"),
    ..TEXT
};

const WEBHOOK_FIELDS: &[Field] = &[URL_FIELD, CUSTOM_HEADERS_FIELD];
const WEBHOOK_MANAGED: &[&str] = &[
    "secret",
    "previous_secret",
    "previous_secret_invalid_at",
    "rotate_secret",
];
const WEBHOOK_SECRETS: &[&str] = &["secret", "previous_secret"];
const WEBHOOK_LINK: &str = "https://www.standardwebhooks.com/";
const WEBHOOK_ICON: &str = icon!(
    "#4B5563",
    r#"<circle cx="5" cy="11" r="1.6"/><circle cx="11" cy="11" r="1.6"/><circle cx="8" cy="5" r="1.6"/><path d="M8 6.6 5.8 9.6M8 6.6l2.2 3M6.6 11h2.8"/>"#
);

const AWS_REGION_FIELD: Field = Field {
    key: "region",
    label: "AWS region",
    description: "The region the resource lives in, e.g. us-east-1",
    required: true,
    pattern: Some(Pattern::AwsRegion),
    ..TEXT
};

const AWS_KEY: Field = Field {
    key: "key",
    label: "Access key ID",
    description: "The AWS access key ID",
    required: true,
    sensitive: true,
    ..TEXT
};

const AWS_SECRET: Field = Field {
    key: "secret",
    label: "Secret access key",
    description: "The AWS secret access key",
    required: true,
    sensitive: true,
    ..TEXT
};

const AWS_SESSION: Field = Field {
    key: "session",
    label: "Session token",
    description: "An AWS session token, for temporary credentials",
    sensitive: true,
    ..TEXT
};

pub(super) static WEBHOOK_STANDARD: DestinationType = DestinationType {
    description:
        "Deliver events as HTTP POST requests signed per the Standard Webhooks specification",
    ..WEBHOOK
};

const WEBHOOK: DestinationType = DestinationType {
    kind: DestinationKind::Webhook,
    label: "Webhook",
    description: "Deliver events as signed HTTP POST requests to a URL",
    link: WEBHOOK_LINK,
    icon: WEBHOOK_ICON,
    config_fields: WEBHOOK_FIELDS,
    credential_fields: &[],
    managed_credentials: WEBHOOK_MANAGED,
    unmasked_secrets: WEBHOOK_SECRETS,
    setup_link: None,
};

pub(super) static TYPES: [DestinationType; DestinationKind::ALL.len()] = [
    WEBHOOK,
    DestinationType {
        kind: DestinationKind::AwsSqs,
        label: "AWS SQS",
        description: "Send each event as a message to an Amazon SQS queue",
        link: "https://aws.amazon.com/sqs/",
        icon: icon!(
            "#C7366F",
            r#"<rect x="3.5" y="5" width="9" height="6" rx="1"/><path d="M6 5v6M8.5 5v6"/>"#
        ),
        config_fields: &[Field {
            key: "queue_url",
            label: "Queue URL",
            description: "The URL of the SQS queue",
            required: true,
            pattern: Some(Pattern::HttpUrl),
            ..TEXT
        }],
        credential_fields: &[AWS_KEY, AWS_SECRET],
        managed_credentials: &[],
        unmasked_secrets: &[],
        setup_link: None,
    },
    DestinationType {
        kind: DestinationKind::AwsS3,
        label: "AWS S3",
        description: "Write each event as an object to an Amazon S3 bucket",
        link: "https://aws.amazon.com/s3/",
        icon: icon!(
            "#5E8E1B",
            r#"<ellipse cx="8" cy="5" rx="4" ry="1.5"/><path d="M4 5l.8 6.5c.2 1 6.2 1 6.4 0L12 5"/>"#
        ),
        config_fields: &[
            Field {
                key: "bucket",
                label: "Bucket",
                description: "The name of the S3 bucket",
                required: true,
                ..TEXT
            },
            AWS_REGION_FIELD,
            Field {
                key: "key_template",
                label: "Object key template",
                description: "A JMESPath expression for each object's key; by default the event time, an underscore, the event ID and .json",
                placeholder: Some(
                    r#"join('/', [time.year, time.month, time.day, metadata."event-id", '.json'])"#,
                ),
                ..TEXT
            },
            Field {
                key: "storage_class",
                label: "Storage class",
                description: "The S3 storage class of the objects, such as STANDARD or GLACIER",
                default: Some("STANDARD"),
                ..TEXT
            },
        ],
        credential_fields: &[AWS_KEY, AWS_SECRET, AWS_SESSION],
        managed_credentials: &[],
        unmasked_secrets: &[],
        setup_link: None,
    },
    DestinationType {
        kind: DestinationKind::AwsKinesis,
        label: "AWS Kinesis",
        description: "Put each event as a record on an Amazon Kinesis data stream",
        link: "https://aws.amazon.com/kinesis/data-streams/",
        icon: icon!(
            "#D9692F",
            r#"<path d="M3.5 6c1.5-1.2 3-1.2 4.5 0s3 1.2 4.5 0M3.5 10c1.5-1.2 3-1.2 4.5 0s3 1.2 4.5 0"/>"#
        ),
        config_fields: &[
            Field {
                key: "stream_name",
                label: "Stream name",
                description: "The name of the Kinesis stream",
                required: true,
                pattern: Some(Pattern::StreamName),
                ..TEXT
            },
            AWS_REGION_FIELD,
            Field {
                key: "endpoint",
                label: "Endpoint",
                description: "A custom Kinesis endpoint URL, e.g. a VPC endpoint or a local emulator",
                pattern: Some(Pattern::HttpUrl),
                ..TEXT
            },
            Field {
                key: "partition_key_template",
                label: "Partition key template",
                description: "A JMESPath expression for each record's partition key; the event ID when unset or when it yields nothing",
                ..TEXT
            },
        ],
        credential_fields: &[AWS_KEY, AWS_SECRET, AWS_SESSION],
        managed_credentials: &[],
        unmasked_secrets: &[],
        setup_link: None,
    },
    DestinationType {
        kind: DestinationKind::Rabbitmq,
        label: "RabbitMQ",
        description: "Publish each event to a RabbitMQ exchange, routed by topic",
        link: "https://www.rabbitmq.com/",
        icon: icon!(
            "#E8620C",
            r#"<path d="M4.5 12V4.5h2V8h5v4z"/>"#
        ),
        config_fields: &[
            Field {
                key: "server_url",
                label: "Server address",
                description: "Host and port of the RabbitMQ server, e.g. rabbit.example.com:5672",
                required: true,
                pattern: Some(Pattern::NoWhitespace),
                ..TEXT
            },
            Field {
                key: "exchange",
                label: "Exchange",
                description: "The exchange messages are published to",
                ..TEXT
            },
            Field {
                key: "tls",
                kind: FieldKind::Checkbox,
                label: "Use TLS",
                description: "Connect to the server over TLS",
                default: Some("on"),
                ..TEXT
            },
        ],
        credential_fields: &[
            Field {
                key: "username",
                label: "Username",
                description: "The RabbitMQ user name",
                required: true,
                ..TEXT
            },
            Field {
                key: "password",
                label: "Password",
                description: "The RabbitMQ user's password",
                required: true,
                sensitive: true,
                ..TEXT
            },
        ],
        managed_credentials: &[],
        unmasked_secrets: &[],
        setup_link: None,
    },
    DestinationType {
        kind: DestinationKind::GcpPubsub,
        label: "GCP Pub/Sub",
        description: "Publish each event to a Google Cloud Pub/Sub topic with a service account",
        link: "https://cloud.google.com/pubsub",
        icon: icon!(
            "#3B78E7",
            r#"<circle cx="8" cy="8" r="1.8"/><path d="M8 3.5v2.7M4.2 10.3l2.3-1.3M11.8 10.3 9.5 9"/>"#
        ),
        config_fields: &[
            Field {
                key: "project_id",
                label: "Project ID",
                description: "The Google Cloud project that owns the topic",
                required: true,
                ..TEXT
            },
            Field {
                key: "topic",
                label: "Topic",
                description: "The Pub/Sub topic to publish to",
                required: true,
                ..TEXT
            },
            Field {
                key: "endpoint",
                label: "Endpoint",
                description: "A custom Pub/Sub endpoint, e.g. localhost:8085 for the emulator",
                ..TEXT
            },
        ],
        credential_fields: &[Field {
            key: "service_account_json",
            label: "Service account key",
            description: "The service account's JSON key file, pasted whole",
            required: true,
            sensitive: true,
            multiline: true,
            ..TEXT
        }],
        managed_credentials: &[],
        unmasked_secrets: &[],
        setup_link: None,
    },
    DestinationType {
        kind: DestinationKind::AzureServicebus,
        label: "Azure Service Bus",
        description: "Send each event as a message to an Azure Service Bus queue or topic",
        link: "https://azure.microsoft.com/products/service-bus/",
        icon: icon!(
            "#0078D4",
            r#"<path d="M3.5 5.5h9v5h-9z"/><path d="M6 8h4M8 6.5v3"/>"#
        ),
        config_fields: &[Field {
            key: "name",
            label: "Queue or topic",
            description: "The name of the queue or topic messages are sent to",
            required: true,
            pattern: Some(Pattern::ServiceBusName),
            ..TEXT
        }],
        credential_fields: &[Field {
            key: "connection_string",
            label: "Connection string",
            description: "A connection string with Send rights: Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…",
            required: true,
            sensitive: true,
            ..TEXT
        }],
        managed_credentials: &[],
        unmasked_secrets: &[],
        setup_link: None,
    },
    DestinationType {
        kind: DestinationKind::Kafka,
        label: "Apache Kafka",
        description: "Produce each event as a record on an Apache Kafka topic",
        link: "https://kafka.apache.org/",
        icon: icon!(
            "#231F20",
            r#"<circle cx="8" cy="4.5" r="1.3"/><circle cx="8" cy="11.5" r="1.3"/><circle cx="11.5" cy="8" r="1.3"/><path d="M8 5.8v4.4M9.2 9l1.3-.6M9.2 7l1.3.6"/>"#
        ),
        config_fields: &[
            Field {
                key: "brokers",
                label: "Brokers",
                description: "Broker addresses, comma separated, e.g. broker1:9092,broker2:9092",
                required: true,
                ..TEXT
            },
            Field {
                key: "topic",
                label: "Topic",
                description: "The Kafka topic records are produced to",
                required: true,
                ..TEXT
            },
            Field {
                key: "tls",
                kind: FieldKind::Checkbox,
                label: "Use TLS",
                description: "Connect to the brokers over TLS",
                default: Some("true"),
                ..TEXT
            },
            Field {
                key: "partition_key_template",
                label: "Partition key template",
                description: "A JMESPath expression for each record's key; the event ID when unset or when it yields nothing",
                ..TEXT
            },
            Field {
                key: "sasl_mechanism",
                kind: FieldKind::Select,
                label: "SASL mechanism",
                description: "How to authenticate to the brokers",
                required: true,
                options: &[
                    SelectOption {
                        label: "PLAIN",
                        value: "plain",
                    },
                    SelectOption {
                        label: "SCRAM-SHA-256",
                        value: "scram-sha-256",
                    },
                    SelectOption {
                        label: "SCRAM-SHA-512",
                        value: "scram-sha-512",
                    },
                ],
                ..TEXT
            },
        ],
        credential_fields: &[
            Field {
                key: "username",
                label: "Username",
                description: "The SASL user name",
                required: true,
                ..TEXT
            },
            Field {
                key: "password",
                label: "Password",
                description: "The SASL user's password",
                required: true,
                sensitive: true,
                ..TEXT
            },
        ],
        managed_credentials: &[],
        unmasked_secrets: &[],
        setup_link: None,
    },
    DestinationType {
        kind: DestinationKind::Hookdeck,
        label: "Hookdeck",
        description: "Send each event to the Hookdeck Event Gateway",
        link: "https://hookdeck.com/",
        icon: icon!(
            "#6B4EFF",
            r#"<path d="M5 4v8M11 4v8M5 8h6"/>"#
        ),
        config_fields: &[],
        credential_fields: &[Field {
            key: "token",
            label: "Hookdeck token",
            description: "The token Hookdeck issued for this connection",
            required: true,
            sensitive: true,
            ..TEXT
        }],
        managed_credentials: &[],
        unmasked_secrets: &[],
        setup_link: Some(SetupLink {
            href: "https://dashboard.hookdeck.com/connect",
            cta: "Generate Hookdeck Token",
        }),
    },
];

#[cfg(test)]
mod tests {
    use super::super::fields::{all, find, get, webhook_standard};
    use super::*;

    fn kinds() -> Vec<&'static str> {
        all().iter().map(|t| t.kind.as_str()).collect()
    }

    #[test]
    fn each_kind_is_declared_at_its_position() {
        for kind in DestinationKind::ALL {
            assert_eq!(get(kind).kind, kind);
        }
    }

    #[test]
    fn lists_outposts_nine_types_and_finds_each() {
        assert_eq!(
            kinds(),
            [
                "webhook",
                "aws_sqs",
                "aws_s3",
                "aws_kinesis",
                "rabbitmq",
                "gcp_pubsub",
                "azure_servicebus",
                "kafka",
                "hookdeck"
            ]
        );
        for kind in kinds() {
            assert_eq!(find(kind).map(|t| t.kind.as_str()), Some(kind));
        }
        assert!(find("carrier_pigeon").is_none());
        assert_eq!(webhook_standard().kind, DestinationKind::Webhook);
        assert_eq!(webhook_standard().config_fields, WEBHOOK_FIELDS);
    }

    /// The contract columns of every field: (key, type, required, sensitive,
    /// pattern). Written out so that a careless edit to a declaration shows
    /// up as a test failure, not as a client form that silently changed.

    #[test]
    fn field_contract_is_stable() {
        type Row = (&'static str, &'static str, bool, bool, Option<&'static str>);
        let row = |f: &Field| -> Row {
            (
                f.key,
                f.kind.as_str(),
                f.required,
                f.sensitive,
                f.pattern.map(Pattern::source),
            )
        };
        let url = Some(r"^https?:\/\/[^\s]+$");
        let region = Some(r"^[a-z]{2}-[a-z]+-[0-9]+$");
        let expect: &[(&str, &[Row], &[Row])] = &[
            (
                "webhook",
                &[
                    ("url", "text", true, false, url),
                    ("custom_headers", "key_value_map", false, false, None),
                ],
                &[],
            ),
            (
                "aws_sqs",
                &[("queue_url", "text", true, false, url)],
                &[
                    ("key", "text", true, true, None),
                    ("secret", "text", true, true, None),
                ],
            ),
            (
                "aws_s3",
                &[
                    ("bucket", "text", true, false, None),
                    ("region", "text", true, false, region),
                    ("key_template", "text", false, false, None),
                    ("storage_class", "text", false, false, None),
                ],
                &[
                    ("key", "text", true, true, None),
                    ("secret", "text", true, true, None),
                    ("session", "text", false, true, None),
                ],
            ),
            (
                "aws_kinesis",
                &[
                    (
                        "stream_name",
                        "text",
                        true,
                        false,
                        Some(r"^[a-zA-Z0-9_.-]+$"),
                    ),
                    ("region", "text", true, false, region),
                    ("endpoint", "text", false, false, url),
                    ("partition_key_template", "text", false, false, None),
                ],
                &[
                    ("key", "text", true, true, None),
                    ("secret", "text", true, true, None),
                    ("session", "text", false, true, None),
                ],
            ),
            (
                "rabbitmq",
                &[
                    ("server_url", "text", true, false, Some(r"^[^\s]+$")),
                    ("exchange", "text", false, false, None),
                    ("tls", "checkbox", false, false, None),
                ],
                &[
                    ("username", "text", true, false, None),
                    ("password", "text", true, true, None),
                ],
            ),
            (
                "gcp_pubsub",
                &[
                    ("project_id", "text", true, false, None),
                    ("topic", "text", true, false, None),
                    ("endpoint", "text", false, false, None),
                ],
                &[("service_account_json", "text", true, true, None)],
            ),
            (
                "azure_servicebus",
                &[(
                    "name",
                    "text",
                    true,
                    false,
                    Some("^[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$"),
                )],
                &[("connection_string", "text", true, true, None)],
            ),
            (
                "kafka",
                &[
                    ("brokers", "text", true, false, None),
                    ("topic", "text", true, false, None),
                    ("tls", "checkbox", false, false, None),
                    ("partition_key_template", "text", false, false, None),
                    ("sasl_mechanism", "select", true, false, None),
                ],
                &[
                    ("username", "text", true, false, None),
                    ("password", "text", true, true, None),
                ],
            ),
            ("hookdeck", &[], &[("token", "text", true, true, None)]),
        ];
        for (kind, config, credentials) in expect {
            let t = find(kind).expect("type");
            let got: Vec<Row> = t.config_fields.iter().map(row).collect();
            assert_eq!(&got, config, "{kind} config");
            let got: Vec<Row> = t.credential_fields.iter().map(row).collect();
            assert_eq!(&got, credentials, "{kind} credentials");
        }
        let s3 = find("aws_s3").expect("s3");
        assert_eq!(s3.config_fields[3].default, Some("STANDARD"));
        let rabbit = find("rabbitmq").expect("rabbitmq");
        assert_eq!(rabbit.config_fields[2].default, Some("on"));
    }
}
