-- bench/setup_plain: the control table (run as a script): the same
-- columns, partitions and indexes as outbound.events, and no trigger, so
-- the benches can say what the same Postgres does without outbound.
CREATE TABLE public.plain_events (LIKE outbound.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (time);
ALTER TABLE public.plain_events ADD PRIMARY KEY (id, time);
CREATE INDEX ON public.plain_events (tenant_id, time DESC, id DESC);
CREATE INDEX ON public.plain_events (time DESC, id DESC);
CREATE TABLE public.plain_events_default PARTITION OF public.plain_events DEFAULT;
DO $$
DECLARE d date;
BEGIN
  FOR d IN SELECT current_date + k FROM generate_series(-1, 2) k LOOP
    EXECUTE format('CREATE TABLE public.plain_events_p%s PARTITION OF public.plain_events FOR VALUES FROM (%L) TO (%L)',
                   to_char(d, 'YYYYMMDD'), d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
  END LOOP;
END $$;
