-- NOT APPLIED: the measured prototype of issue 15 (see README, Benchmarks,
-- "Publishing after commit"). Kept as it was measured; the workers called
-- outbound.fan_out_committed() before each claim.
-- V15 (prototype): the publisher's transaction writes only the event;
-- the fan-out runs after commit, in batches, in the workers.
--
-- The publishing statement's trigger now only refuses what must be refused
-- synchronously (data nested too deep, an unknown tenant, an id seen
-- before: event_ids, which now also records the publishing transaction's
-- id) and wakes a sleeping worker. outbound.fan_out_committed(), called by
-- the workers before each claim, queues the deliveries of every event
-- committed since its previous run, exactly once, PgQ-style: a run reads
-- the events whose transaction is visible in its own snapshot and was not
-- in the previous run's, then stores its snapshot. Transactions commit out
-- of order and may stay open for minutes; a snapshot says exactly which
-- ones had committed, so none is skipped or read twice.

ALTER TABLE outbound.event_ids ADD COLUMN xid xid8;
ALTER TABLE outbound.event_ids ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX event_ids_xid ON outbound.event_ids (xid);

CREATE TABLE outbound.fan_out_position (
    singleton boolean PRIMARY KEY DEFAULT true
              CONSTRAINT fan_out_position_singleton CHECK (singleton),
    snapshot  pg_snapshot NOT NULL
);
-- Events published before this migration were fanned out by the old
-- trigger (their xid is NULL and never read).
INSERT INTO outbound.fan_out_position (snapshot) VALUES (pg_current_snapshot());

CREATE OR REPLACE FUNCTION outbound.fan_out() RETURNS trigger
LANGUAGE plpgsql
SET jit = off
AS $$
DECLARE
    unknown_tenant text;
    too_deep text;
BEGIN
    -- Data nested deeper than 128 levels is refused (DESIGN: bad input gets
    -- a clear error). Only text with more than 128 opening brackets can be
    -- that deep, so the exact check (a jsonb parse and a path walk) runs
    -- for almost no event. The brackets are counted by what two replace()
    -- calls remove: measured ~1.6 µs for a 1 KiB event, against ~40 µs for
    -- translate(), which handles each character on its own.
    SELECT n.id INTO too_deep
    FROM new_events n
    -- (CASE, not AND: it fixes the order, so the cheap count goes first.)
    WHERE CASE WHEN octet_length(n.data::text)
                    - octet_length(replace(replace(n.data::text, '[', ''), '{', '')) > 128
               THEN jsonb_path_exists(n.data::jsonb,
                        'strict $.**{128} ? (@.type() == "object" || @.type() == "array")')
               ELSE false END
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'outbound: the data of event "%" is nested deeper than 128 levels', too_deep
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'objects and arrays may nest at most 128 levels deep';
    END IF;

    -- Raises unique_violation on event_id_unique for an id seen before.
    INSERT INTO outbound.event_ids (id, time) SELECT n.id, n.time FROM new_events n;

    SELECT n.tenant_id INTO unknown_tenant
    FROM new_events n
    WHERE NOT EXISTS (SELECT 1 FROM outbound.tenants t WHERE t.id = n.tenant_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'outbound: tenant "%" does not exist', unknown_tenant
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'create the tenant first (PUT /api/v1/tenants/{id} or INSERT INTO outbound.tenants)';
    END IF;

    -- The wake-up latch (V14).
    IF EXISTS (SELECT 1 FROM outbound.workers WHERE idle) THEN
        UPDATE outbound.workers w SET idle = false
        FROM (SELECT id FROM outbound.workers WHERE idle FOR UPDATE SKIP LOCKED) s
        WHERE w.id = s.id;
        PERFORM pg_notify('outbound_deliveries', '');
    END IF;
    RETURN NULL;
END
$$;

-- Queues the deliveries of the events committed since the previous run;
-- answers how many it queued. Runs one at a time (advisory lock); the
-- lock is taken in its own statement, so the next statement's snapshot
-- is taken after the previous run committed its position.
CREATE FUNCTION outbound.fan_out_committed() RETURNS bigint
LANGUAGE plpgsql
SET jit = off
-- The batch is small and found by index; the planner knows nothing about
-- its size (a snapshot range) and would otherwise join it to every event.
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
    queued bigint;
    v_prev pg_snapshot;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('outbound.fan_out_committed'));
    -- Only this run may change it now.
    SELECT p.snapshot INTO v_prev FROM outbound.fan_out_position p;
    -- One statement, so its snapshot is both what it reads and what it
    -- stores: the rows it sees are exactly those of transactions visible
    -- in pg_current_snapshot().
    WITH pos AS MATERIALIZED (
        SELECT pg_current_snapshot() AS cur
    ), batch AS MATERIALIZED (
        SELECT x.id, x.time
        FROM outbound.event_ids x
        WHERE x.xid >= pg_snapshot_xmin(v_prev)
          AND NOT pg_visible_in_snapshot(x.xid, v_prev)
    ), moved AS (
        -- Advancing is always right (this statement read every row of
        -- cur \ prev); skipped when it would change nothing.
        UPDATE outbound.fan_out_position p SET snapshot = pos.cur
        FROM pos
        WHERE EXISTS (SELECT 1 FROM batch)
           OR pg_snapshot_xmin(pos.cur) <> pg_snapshot_xmin(v_prev)
    ), n AS MATERIALIZED (
        SELECT e.id, e.tenant_id, e.topic, e.time, e.eligible_for_retry, e.destination_id,
               CASE WHEN EXISTS (SELECT 1 FROM outbound.destinations f
                                 WHERE f.tenant_id = e.tenant_id AND f.disabled_at IS NULL
                                   AND f.filter_path IS NOT NULL)
                    THEN outbound.envelope(e.id, e.topic, e.time, e.metadata, e.data)
               END AS envelope
        FROM batch b
        JOIN outbound.events e ON e.id = b.id AND e.time = b.time
    )
    INSERT INTO outbound.deliveries (event_id, destination_id, tenant_id, event_time, retry, next_attempt_at)
    SELECT n.id, d.id, n.tenant_id, n.time, n.eligible_for_retry, now()
    FROM n
    JOIN outbound.destinations d
      ON d.tenant_id = n.tenant_id
     AND d.disabled_at IS NULL
     AND d.topics && ARRAY['*', n.topic]
     AND (n.destination_id IS NULL OR d.id = n.destination_id)
     AND (d.filter_path IS NULL OR jsonb_path_match(n.envelope, d.filter_path, '{}', true));
    GET DIAGNOSTICS queued = ROW_COUNT;
    RETURN queued;
END
$$;

-- The destinations an event matches now (what its fan-out will queue,
-- unless a destination changes first): the API's publish answer.
CREATE FUNCTION outbound.matching_destinations(p_id text) RETURNS text[]
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(array_agg(d.id ORDER BY d.id), ARRAY[]::text[])
    FROM outbound.event_ids x
    JOIN outbound.events e ON e.id = x.id AND e.time = x.time
    JOIN outbound.destinations d
      ON d.tenant_id = e.tenant_id
     AND d.disabled_at IS NULL
     AND d.topics && ARRAY['*', e.topic]
     AND (e.destination_id IS NULL OR d.id = e.destination_id)
     AND (d.filter_path IS NULL
          OR jsonb_path_match(outbound.envelope(e.id, e.topic, e.time, e.metadata, e.data),
                              d.filter_path, '{}', true))
    WHERE x.id = p_id
$$;

CREATE OR REPLACE FUNCTION outbound.publish_batch(
    p_tenant_ids      text[],
    p_topics          text[],
    p_data            text[],
    p_ids             text[],
    p_metadata        jsonb[],
    p_times           timestamptz[],
    p_retry           boolean[],
    p_destination_ids text[])
RETURNS TABLE (n integer, event_id text, duplicate boolean, destination_ids text[])
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_ids      text[];
    v_inserted text[];
BEGIN
    v_ids := ARRAY(SELECT coalesce(u.id, gen_random_uuid()::text)
                   FROM unnest(p_ids) WITH ORDINALITY AS u(id, k)
                   ORDER BY u.k);

    WITH input AS (
        SELECT u.*, min(u.k) OVER (PARTITION BY u.id) AS first_k
        FROM unnest(v_ids, p_tenant_ids, p_topics, p_data, p_metadata, p_times, p_retry,
                    p_destination_ids) WITH ORDINALITY
             AS u(id, tenant_id, topic, data, metadata, time, retry, destination_id, k)
    ), inserted AS (
        INSERT INTO outbound.events
            (id, tenant_id, topic, data, metadata, time, eligible_for_retry, destination_id)
        SELECT i.id, i.tenant_id, i.topic, i.data::json, coalesce(i.metadata, '{}'::jsonb),
               coalesce(i.time, now()), coalesce(i.retry, true), i.destination_id
        FROM input i
        WHERE i.k = i.first_k
          AND NOT EXISTS (SELECT 1 FROM outbound.event_ids x WHERE x.id = i.id)
        ORDER BY i.k
        RETURNING id
    )
    SELECT coalesce(array_agg(inserted.id), ARRAY[]::text[]) INTO v_inserted FROM inserted;

    RETURN QUERY
        SELECT u.k::integer,
               u.id,
               NOT (u.id = ANY (v_inserted) AND u.k = u.first_k),
               CASE WHEN u.id = ANY (v_inserted) AND u.k = u.first_k THEN
                   outbound.matching_destinations(u.id)
               ELSE ARRAY[]::text[] END
        FROM (SELECT v.id, v.k, min(v.k) OVER (PARTITION BY v.id) AS first_k
              FROM unnest(v_ids) WITH ORDINALITY AS v(id, k)) u
        ORDER BY u.k;
END
$$;

CREATE OR REPLACE FUNCTION outbound.publish(
    tenant_id          text,
    topic              text,
    data               json,
    id                 text DEFAULT NULL,
    metadata           jsonb DEFAULT NULL,
    "time"             timestamptz DEFAULT NULL,
    eligible_for_retry boolean DEFAULT true,
    destination_id     text DEFAULT NULL)
RETURNS TABLE (event_id text, duplicate boolean, destination_ids text[])
LANGUAGE plpgsql
AS $$
DECLARE
    v_id text := coalesce(publish.id, gen_random_uuid()::text);
    v_constraint text;
BEGIN
    IF EXISTS (SELECT 1 FROM outbound.event_ids x WHERE x.id = v_id) THEN
        RETURN QUERY SELECT v_id, true, ARRAY[]::text[];
        RETURN;
    END IF;
    BEGIN
        INSERT INTO outbound.events AS e
            (id, tenant_id, topic, data, metadata, time, eligible_for_retry, destination_id)
        VALUES (v_id, publish.tenant_id, publish.topic, publish.data,
                coalesce(publish.metadata, '{}'::jsonb), coalesce(publish."time", now()),
                coalesce(publish.eligible_for_retry, true), publish.destination_id);
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent publish of the same id committed first.
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        -- event_ids refuses a seen id; the events key (id, time) refuses
        -- it first when both publishes got the same now().
        IF v_constraint IS DISTINCT FROM 'event_id_unique'
           AND v_constraint NOT LIKE 'events\_%pkey' THEN
            RAISE;
        END IF;
        RETURN QUERY SELECT v_id, true, ARRAY[]::text[];
        RETURN;
    END;
    RETURN QUERY
        SELECT v_id, false, outbound.matching_destinations(v_id);
END
$$;
