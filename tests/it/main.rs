//! Integration tests: one binary, a real PostgreSQL (one private cluster per
//! run unless TEST_DATABASE_URL names one), one fresh database per test.

mod helpers;

mod api_bad_input;
mod api_catalog;
mod api_destinations;
mod api_logs;
mod api_metrics;
mod api_tenants;
mod capture;
mod citus;
mod compression;
mod delivery;
mod delivery_policy;
mod destinations;
mod fairness;
mod fanout;
mod faults;
mod filter_sql;
mod hardening;
mod intake;
mod maintenance;
mod metrics_endpoint;
mod openapi;
mod operator_events;
mod operator_sinks;
mod ordered;
mod outages;
mod outpost_settings;
mod pg_cron;
mod portal;
mod publish;
mod queries;
mod replay;
mod scale_out;
mod sdk;
mod serve;
mod standard_webhooks;
mod startup_logs;
mod topics;
mod transform;
mod transform_portal;
mod wakeups;
