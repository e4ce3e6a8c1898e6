-- maintenance/apply_alert_settings: $1 alert.attempt.exhausted_retries is
-- emitted (bool), $2 its window per destination in ms.
-- maintain() (from pg_cron too) raises the alert for the deliveries it ends
-- at the retention only when this says so. One row for the database: the
-- last process to start wins.
UPDATE outbound.settings SET exhausted_retries_alert = $1, exhausted_retries_window_ms = $2
