//! Every named query, loaded from `sql/queries/`. The registry lets a test
//! prepare them all against a migrated database, so a typo fails CI.

macro_rules! queries {
    ($($name:ident => $path:literal),* $(,)?) => {
        $(pub const $name: &str = include_str!(concat!("../../sql/queries/", $path));)*
        /// (file, text) of every query.
        pub const ALL: &[(&str, &str)] = &[$(($path, $name)),*];
    };
}

queries! {
    HEALTH_PING => "health/ping.sql",
    EVENTS_PUBLISH => "events/publish.sql",
    EVENTS_PUBLISH_BATCH => "events/publish_batch.sql",
    TENANTS_UPSERT => "tenants/upsert.sql",
    TENANTS_GET => "tenants/get.sql",
    TENANTS_DELETE => "tenants/delete.sql",
    TENANTS_LIST => "tenants/list.sql",
    TENANTS_COUNT => "tenants/count.sql",
    DESTINATIONS_INSERT => "destinations/insert.sql",
    DESTINATIONS_LIST => "destinations/list.sql",
    DESTINATIONS_GET => "destinations/get.sql",
    DESTINATIONS_UPDATE => "destinations/update.sql",
    DESTINATIONS_DELETE => "destinations/delete.sql",
    DESTINATIONS_COUNT => "destinations/count.sql",
    DESTINATIONS_COUNT_OWNED => "destinations/count_owned.sql",
    MAINTENANCE_MAINTAIN => "maintenance/maintain.sql",
    MAINTENANCE_APPLY_SETTINGS => "maintenance/apply_settings.sql",
    MAINTENANCE_APPLY_ALERT_SETTINGS => "maintenance/apply_alert_settings.sql",
    MAINTENANCE_HAS_PG_CRON => "maintenance/has_pg_cron.sql",
    MAINTENANCE_SCHEDULE_PG_CRON => "maintenance/schedule_pg_cron.sql",
    DELIVERIES_CLAIM => "deliveries/claim.sql",
    DELIVERIES_RECORD => "deliveries/record.sql",
    DELIVERIES_HOLD => "deliveries/hold.sql",
    DELIVERIES_HOLD_CLAIMED => "deliveries/hold_claimed.sql",
    DELIVERIES_DROP_CLAIMED => "deliveries/drop_claimed.sql",
    DELIVERIES_RELEASE => "deliveries/release.sql",
    DELIVERIES_RETRY_NOW => "deliveries/retry_now.sql",
    DELIVERIES_IS_LEASED => "deliveries/is_leased.sql",
    DELIVERIES_POSTPONE => "deliveries/postpone.sql",
    DELIVERIES_CIRCUIT_CLOSED => "deliveries/circuit_closed.sql",
    HELD_RELEASE => "held/release.sql",
    HELD_DISCARD => "held/discard.sql",
    HELD_RELEASE_ENABLED => "held/release_enabled.sql",
    DESTINATIONS_RECORD_OUTCOMES => "destinations/record_outcomes.sql",
    DESTINATIONS_SET_DISABLED => "destinations/set_disabled.sql",
    DESTINATIONS_GET_FOR_RETRY => "destinations/get_for_retry.sql",
    DESTINATIONS_MATCHES_EVENT => "destinations/matches_event.sql",
    ATTEMPTS_LAST_NUMBER => "attempts/last_number.sql",
    ATTEMPTS_LIST_DESC => "attempts/list_desc.sql",
    ATTEMPTS_LIST_ASC => "attempts/list_asc.sql",
    ATTEMPTS_GET => "attempts/get.sql",
    EVENTS_LIST_DESC => "events/list_desc.sql",
    EVENTS_LIST_ASC => "events/list_asc.sql",
    EVENTS_GET => "events/get.sql",
    WORKERS_UPSERT => "workers/upsert.sql",
    METRICS_ATTEMPTS => "metrics/attempts.sql",
    METRICS_EVENTS => "metrics/events.sql",
    METRICS_QUEUE_DEPTH => "metrics/queue_depth.sql",
    METRICS_EVENTS_STORED => "metrics/events_stored.sql",
    WORKERS_DEREGISTER => "workers/deregister.sql",
    WORKERS_LISTEN => "workers/listen.sql",
    OPERATOR_EVENTS_ALERT => "operator_events/alert.sql",
    OPERATOR_EVENTS_EXHAUSTED_RETRIES => "operator_events/exhausted_retries.sql",
    OPERATOR_EVENTS_SUBSCRIPTION => "operator_events/subscription.sql",
    OPERATOR_EVENTS_SUBSCRIPTION_UPDATED => "operator_events/subscription_updated.sql",
    OPERATOR_EVENTS_CLAIM => "operator_events/claim.sql",
    OPERATOR_EVENTS_DELETE => "operator_events/delete.sql",
    OPERATOR_EVENTS_RESCHEDULE => "operator_events/reschedule.sql",
}

/// Queries that only prepare where an optional extension exists.
pub const NEEDS_EXTENSION: &[&str] = &["maintenance/schedule_pg_cron.sql"];
