-- metrics/events_stored: no params.
--
-- Events stored since Postgres' statistics were last reset, by every path
-- and every process: HTTP publishes and SQL inserts alike. Each accepted
-- event id gets one row in outbound.event_ids (the fan-out trigger writes
-- it), so that table's insert counter counts events without a counter row
-- that every publish would have to lock. Postgres' statistics lag by up to
-- a few seconds, count rows of rolled-back inserts too, and start again
-- from zero after a crash or pg_stat_reset(); Prometheus' rate() reads
-- that as a counter reset.
SELECT coalesce(
    (SELECT n_tup_ins FROM pg_stat_user_tables
     WHERE schemaname = 'outbound' AND relname = 'event_ids'), 0)::bigint AS inserted
