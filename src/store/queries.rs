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
    DELIVERIES_ANY_DUE => "deliveries/any_due.sql",
    DELIVERIES_RECORD => "deliveries/record.sql",
    DELIVERIES_SEQUENCE => "deliveries/sequence.sql",
    DELIVERIES_SKIP => "deliveries/skip.sql",
    DELIVERIES_BLOCKED => "deliveries/blocked.sql",
    DELIVERIES_ORDERED_IN_USE => "deliveries/ordered_in_use.sql",
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
    OPERATOR_EVENTS_ATTEMPTS => "operator_events/attempts.sql",
    OPERATOR_EVENTS_SUBSCRIPTION => "operator_events/subscription.sql",
    OPERATOR_EVENTS_SUBSCRIPTION_UPDATED => "operator_events/subscription_updated.sql",
    OPERATOR_EVENTS_CLAIM => "operator_events/claim.sql",
    OPERATOR_EVENTS_DELETE => "operator_events/delete.sql",
    OPERATOR_EVENTS_RESCHEDULE => "operator_events/reschedule.sql",
    REPLAYS_CREATE => "replays/create.sql",
    REPLAYS_GET => "replays/get.sql",
    REPLAYS_LIST => "replays/list.sql",
    REPLAYS_CANCEL => "replays/cancel.sql",
    REPLAYS_STEP => "replays/step.sql",
    REPLAYS_ACTIVE => "replays/active.sql",
    REPLAYS_TRIM => "replays/trim.sql",
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
/// `/*citus: AND x.tenant_id = ANY ($N)*/` becomes part of the statement
/// (on one node it is a comment, and $N is not bound), and every
/// `coalesce($N, now())` (a time a single node may leave to the database)
/// becomes `$N::timestamptz`. With the tenants and the time given, Citus
/// sees that the statement touches one shard group and routes it there
/// whole (it refuses now() inside COALESCE). The filters are comments on
/// one node because a filter on a parameter there, even `$N IS NULL OR …`,
/// changes the generic plan's estimates: the recorder's UPDATE was planned
/// as a walk of the queue's claim index on every batch.
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
        .or_insert_with(|| Box::leak(rewrite_for_citus(sql).into_boxed_str()))
}

fn rewrite_for_citus(sql: &str) -> String {
    const OPEN: &str = "/*citus: ";
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find(OPEN) {
        let Some(len) = rest[start..].find("*/") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&rest[start + OPEN.len()..start + len]);
        rest = &rest[start + len + 2..];
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
    fn routed_makes_the_citus_filters_part_of_the_statement() {
        let sql = "WHERE a /*citus: AND tenant_id = ANY ($11)*/\n\
                   AND b /*citus: AND d.tenant_id = ANY ($11)*/ LIMIT 1";
        assert_eq!(
            super::rewrite_for_citus(sql),
            "WHERE a AND tenant_id = ANY ($11)\nAND b AND d.tenant_id = ANY ($11) LIMIT 1"
        );
        let claim = super::routed(super::DELIVERIES_CLAIM);
        assert!(!claim.contains("/*citus"), "{claim}");
        assert!(!claim.contains("coalesce($1"), "{claim}");
        assert_eq!(claim.matches("tenant_id = ANY ($11)").count(), 11);
        assert_eq!(
            super::rewrite_for_citus("a coalesce($12, now()) b coalesce($1, x) c"),
            "a $12::timestamptz b coalesce($1, x) c"
        );
    }

    #[test]
    fn on_one_node_no_statement_uses_its_citus_parameter() {
        for (file, sql) in super::ALL {
            let Some(at) = sql.find("/*citus: ") else {
                continue;
            };
            let marker = &sql[at..];
            let param = &marker[marker.find("($").unwrap() + 1..marker.find(")*/").unwrap()];
            // The statement as one node runs it: no comments.
            let mut plain = String::new();
            for part in sql.split("/*citus: ") {
                let part = part.find("*/").map_or(part, |end| &part[end + 2..]);
                plain.push_str(part);
            }
            let used = plain
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .flat_map(|l| {
                    l.match_indices(param)
                        .map(move |(i, _)| &l[i + param.len()..])
                })
                .any(|after| !after.starts_with(|c: char| c.is_ascii_digit()));
            assert!(
                !used,
                "{file}: {param} is used outside its /*citus*/ filters"
            );
        }
    }
}
