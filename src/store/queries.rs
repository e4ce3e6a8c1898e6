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
    METRICS_QUEUE_DEPTH_CITUS => "metrics/queue_depth_citus.sql",
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
    CITUS_INSTALLED => "citus/installed.sql",
    CITUS_DISTRIBUTED => "citus/distributed.sql",
    CITUS_SHARD_GROUPS => "citus/shard_groups.sql",
    CITUS_DUE_TENANTS => "citus/due_tenants.sql",
    CITUS_LIVE_WORKERS => "citus/live_workers.sql",
    CITUS_OPERATOR_EVENT_GROUPS => "citus/operator_event_groups.sql",
}

/// Queries that only prepare where an optional extension exists.
pub const NEEDS_EXTENSION: &[&str] = &[
    "maintenance/schedule_pg_cron.sql",
    "citus/distributed.sql",
    "citus/shard_groups.sql",
    "citus/operator_event_groups.sql",
];

/// `sql` as it must read to run on one Citus shard group: every
/// `($N::text[] IS NULL OR x.tenant_id = ANY ($N))` (a tenant filter that
/// a single node may leave out) becomes `x.tenant_id = ANY ($N)`, and every
/// `coalesce($N, now())` (a time a single node may leave to the database)
/// becomes `$N::timestamptz`. With the filter and the time given, both texts
/// mean the same; only the second lets Citus see that the statement touches
/// one shard group and route it there whole (Citus refuses now() inside
/// COALESCE).
pub fn routed(sql: &'static str) -> &'static str {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static ROUTED: OnceLock<Mutex<HashMap<usize, &'static str>>> = OnceLock::new();
    let mut cache = ROUTED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry(sql.as_ptr() as usize)
        .or_insert_with(|| Box::leak(rewrite_tenant_filters(sql).into_boxed_str()))
}

fn rewrite_tenant_filters(sql: &str) -> String {
    const NULL_OR: &str = "::text[] IS NULL OR ";
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    // ($N::text[] IS NULL OR column = ANY ($N))  →  column = ANY ($N)
    while let Some(start) = rest.find(NULL_OR) {
        let after = &rest[start + NULL_OR.len()..];
        let rewritten = rest[..start].rfind("($").and_then(|open| {
            let param = &rest[open + 1..start];
            let close = format!(" = ANY ({param}))");
            let end = after.find(&close)?;
            Some((
                open,
                format!("{} = ANY ({param})", &after[..end]),
                end + close.len(),
            ))
        });
        let Some((open, filter, consumed)) = rewritten else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&filter);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    // coalesce($N, now())  →  $N::timestamptz
    let mut text = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.find("coalesce($") {
        let tail = &rest[at + "coalesce(".len()..];
        let digits = tail[1..].chars().take_while(char::is_ascii_digit).count();
        let param = &tail[..1 + digits];
        if digits > 0 && tail[param.len()..].starts_with(", now())") {
            text.push_str(&rest[..at]);
            text.push_str(&format!("{param}::timestamptz"));
            rest = &tail[param.len() + ", now())".len()..];
        } else {
            text.push_str(&rest[..at + 1]);
            rest = &rest[at + 1..];
        }
    }
    text.push_str(rest);
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn routed_drops_the_null_branch_of_every_tenant_filter() {
        let sql = "WHERE a AND ($11::text[] IS NULL OR tenant_id = ANY ($11))\n\
                   AND ($11::text[] IS NULL OR d.tenant_id = ANY ($11)) LIMIT 1";
        assert_eq!(
            super::rewrite_tenant_filters(sql),
            "WHERE a AND tenant_id = ANY ($11)\nAND d.tenant_id = ANY ($11) LIMIT 1"
        );
        let claim = super::routed(super::DELIVERIES_CLAIM);
        assert!(!claim.contains("IS NULL OR"), "{claim}");
        assert!(!claim.contains("coalesce($1"), "{claim}");
        assert_eq!(
            super::rewrite_tenant_filters("a coalesce($12, now()) b coalesce($1, x) c"),
            "a $12::timestamptz b coalesce($1, x) c"
        );
        assert_eq!(claim.matches("tenant_id = ANY ($11)").count(), 9);
    }
}
