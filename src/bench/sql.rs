//! The benches' statements, in `sql/bench/` like every other statement.
//! The setup files are scripts (several statements, run with
//! `batch_execute`); the others are single statements.

macro_rules! bench_sql {
    ($($name:ident => $path:literal),* $(,)?) => {
        $(pub const $name: &str = include_str!(concat!("../../sql/bench/", $path));)*
    };
}

bench_sql! {
    SETUP => "setup.sql",
    SETUP_PLAIN => "setup_plain.sql",
    DROP_PLAIN => "drop_plain.sql",
    INSERT_ONE => "insert_one.sql",
    INSERT_ONE_PLAIN => "insert_one_plain.sql",
    INSERT_BATCH => "insert_batch.sql",
    INSERT_BATCH_PLAIN => "insert_batch_plain.sql",
    INSERT_WITH_ID => "insert_with_id.sql",
    POINT_AT => "point_at.sql",
    TRANSFORM_ALL => "transform_all.sql",
    ONLY_D_TOPIC => "only_d_topic.sql",
    ALL_TEN => "all_ten.sql",
    IDLE_WORKER => "idle_worker.sql",
    NO_WORKERS => "no_workers.sql",
    DELIVERIES_PER_EVENT => "deliveries_per_event.sql",
    QUEUE_LENGTH => "queue_length.sql",
    OUTBOX_LENGTH => "outbox_length.sql",
    EMPTY => "empty.sql",
    ISOLATION_SETUP => "isolation_setup.sql",
    ISOLATION_PUBLISH => "isolation_publish.sql",
    SENDERS_SETUP => "senders_setup.sql",
    SENDERS_BACKLOG => "senders_backlog.sql",
    SENDERS_RESULT => "senders_result.sql",
    TENANTS_SETUP => "tenants_setup.sql",
    TENANT_INSERT_ONE => "tenant_insert_one.sql",
    TENANT_INSERT_BATCH => "tenant_insert_batch.sql",
    TENANT_INSERT_WITH_ID => "tenant_insert_with_id.sql",
    RATE_LIMIT => "rate_limit.sql",
    ORDERING => "ordering.sql",
    CAPTURE_SETUP => "capture_setup.sql",
    CAPTURE_ON => "capture_on.sql",
    CAPTURE_ROW_LEVEL_ON => "capture_row_level_on.sql",
    CAPTURE_OFF => "capture_off.sql",
    CAPTURE_INSERT_ONE => "capture_insert_one.sql",
    CAPTURE_INSERT_BATCH => "capture_insert_batch.sql",
    CAPTURE_BY_HAND_ONE => "capture_by_hand_one.sql",
    CAPTURE_BY_HAND_BATCH => "capture_by_hand_batch.sql",
    CAPTURE_DELIVERIES_PER_ROW => "capture_deliveries_per_row.sql",
}
