-- maintenance/apply_settings: $1 retention in days.
-- The SQL side (maintain() from pg_cron) reads the retention from here.
UPDATE outbound.settings SET retention = make_interval(days => $1)
