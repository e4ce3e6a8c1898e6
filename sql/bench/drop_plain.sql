-- bench/drop_plain: the control table has served. Dropped so that its
-- autovacuum (which the inserts trigger) does not run during later phases.
DROP TABLE public.plain_events
