-- V16: every key includes tenant_id.
--
-- A distributed PostgreSQL (Citus, `outbound migrate --citus`) spreads the
-- tables over nodes by tenant_id, and can only enforce a primary key, a
-- unique key or a foreign key that includes it. The single-node schema
-- uses the same keys, so there is one schema and one set of queries:
--
-- - event ids and destination ids are unique per tenant (two tenants may
--   both have a destination "orders"); the API always names the tenant of
--   a destination, and the operator's cross-tenant GET /events/{id} still
--   finds an event by id alone;
-- - every join between events, event_ids, deliveries, attempts,
--   destinations and the operator-event tables matches tenant_id too, so
--   on Citus each statement stays on the node that holds the tenant.

-- Destinations: (tenant_id, id). The operator's alert windows point at
-- one, so they carry its tenant too.
ALTER TABLE outbound.operator_alert_windows
    DROP CONSTRAINT operator_alert_windows_destination_id_fkey,
    ADD COLUMN tenant_id text;
UPDATE outbound.operator_alert_windows w SET tenant_id = d.tenant_id
FROM outbound.destinations d WHERE d.id = w.destination_id;
DELETE FROM outbound.operator_alert_windows WHERE tenant_id IS NULL;
ALTER TABLE outbound.operator_alert_windows
    ALTER COLUMN tenant_id SET NOT NULL,
    DROP CONSTRAINT operator_alert_windows_pkey,
    ADD PRIMARY KEY (tenant_id, destination_id, topic);

ALTER TABLE outbound.destinations
    DROP CONSTRAINT destinations_pkey,
    ADD PRIMARY KEY (tenant_id, id);
-- The primary key now leads with tenant_id: the fan-out's lookup of a
-- tenant's destinations uses it.
DROP INDEX outbound.destinations_fan_out;

ALTER TABLE outbound.operator_alert_windows
    ADD CONSTRAINT operator_alert_windows_destination_fkey
    FOREIGN KEY (tenant_id, destination_id)
    REFERENCES outbound.destinations (tenant_id, id) ON DELETE CASCADE;

-- Events: (tenant_id, id, time); the partition key stays in the key.
ALTER TABLE outbound.events
    DROP CONSTRAINT events_pkey,
    ADD PRIMARY KEY (tenant_id, id, time);

-- Seen ids, per tenant. An id whose event has already gone (its partition
-- dropped) would expire with the next maintenance anyway.
ALTER TABLE outbound.event_ids ADD COLUMN tenant_id text;
UPDATE outbound.event_ids x SET tenant_id = e.tenant_id
FROM outbound.events e WHERE e.id = x.id AND e.time = x.time;
DELETE FROM outbound.event_ids WHERE tenant_id IS NULL;
ALTER TABLE outbound.event_ids
    ALTER COLUMN tenant_id SET NOT NULL,
    DROP CONSTRAINT event_id_unique,
    ADD CONSTRAINT event_id_unique PRIMARY KEY (tenant_id, id);

-- The queue: one row per (tenant, event, destination).
ALTER TABLE outbound.deliveries
    DROP CONSTRAINT deliveries_pkey,
    ADD PRIMARY KEY (tenant_id, event_id, destination_id);

-- The operator-event outbox: every event is about a tenant.
DELETE FROM outbound.operator_events WHERE tenant_id IS NULL;
ALTER TABLE outbound.operator_events
    ALTER COLUMN tenant_id SET NOT NULL,
    DROP CONSTRAINT operator_events_pkey,
    ADD PRIMARY KEY (tenant_id, id);

-- publish(): a duplicate id is one the tenant published before. On Citus a
-- unique violation does not name its constraint, so any unique violation
-- of this INSERT is taken as the duplicate it can only be: the event's own
-- keys (event_ids, events) are the only unique keys it writes, besides the
-- deliveries the fan-out creates, which are keyed by the event id too.
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
BEGIN
    IF EXISTS (SELECT 1 FROM outbound.event_ids x
               WHERE x.tenant_id = publish.tenant_id AND x.id = v_id) THEN
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
        RETURN QUERY SELECT v_id, true, ARRAY[]::text[];
        RETURN;
    END;
    RETURN QUERY
        SELECT v_id, false, coalesce(array_agg(d.destination_id ORDER BY d.destination_id), ARRAY[]::text[])
        FROM outbound.deliveries d
        WHERE d.tenant_id = publish.tenant_id AND d.event_id = v_id;
END
$$;

-- publish_batch(): as V2, with ids per tenant, and without correlated
-- subqueries (Citus plans none): the ids seen before and the deliveries
-- made are each read in one join against the input.
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
    v_seen     text[];
    v_inserted text[];
    v_keys     text[];
    v_queued   text[][];
BEGIN
    v_ids := ARRAY(SELECT coalesce(u.id, gen_random_uuid()::text)
                   FROM unnest(p_ids) WITH ORDINALITY AS u(id, k)
                   ORDER BY u.k);
    -- (tenant, id) pairs as one text each: a tenant id never contains a
    -- newline (tenants_id_format).
    v_keys := ARRAY(SELECT u.t || E'\n' || u.id
                    FROM unnest(p_tenant_ids, v_ids) WITH ORDINALITY AS u(t, id, k)
                    ORDER BY u.k);

    SELECT coalesce(array_agg(x.tenant_id || E'\n' || x.id), ARRAY[]::text[]) INTO v_seen
    FROM outbound.event_ids x
    JOIN unnest(p_tenant_ids, v_ids) AS u(tenant_id, id)
      ON x.tenant_id = u.tenant_id AND x.id = u.id;

    WITH input AS (
        SELECT u.*, min(u.k) OVER (PARTITION BY u.tenant_id, u.id) AS first_k
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
          AND NOT (i.tenant_id || E'\n' || i.id = ANY (v_seen))
        ORDER BY i.k
        RETURNING tenant_id, id
    )
    SELECT coalesce(array_agg(inserted.tenant_id || E'\n' || inserted.id), ARRAY[]::text[])
    INTO v_inserted FROM inserted;

    RETURN QUERY
        WITH queued AS (
            SELECT d.tenant_id || E'\n' || d.event_id AS key,
                   array_agg(d.destination_id ORDER BY d.destination_id) AS ids
            FROM outbound.deliveries d
            JOIN (SELECT DISTINCT * FROM unnest(p_tenant_ids, v_ids)) AS u(tenant_id, id)
              ON d.tenant_id = u.tenant_id AND d.event_id = u.id
            GROUP BY d.tenant_id, d.event_id
        ), numbered AS (
            SELECT v.key, v.k, min(v.k) OVER (PARTITION BY v.key) AS first_k
            FROM unnest(v_keys) WITH ORDINALITY AS v(key, k)
        )
        SELECT u.k::integer,
               v_ids[u.k],
               NOT (u.key = ANY (v_inserted) AND u.k = u.first_k),
               CASE WHEN u.key = ANY (v_inserted) AND u.k = u.first_k
                    THEN coalesce(q.ids, ARRAY[]::text[])
                    ELSE ARRAY[]::text[] END
        FROM numbered u
        LEFT JOIN queued q ON q.key = u.key
        ORDER BY u.k;
END
$$;

-- fan_out(): V15's rules, run per tenant. Each statement on outbound's
-- tables names one tenant with a constant tenant_id, and the transition
-- table is only read by queries of its own (into arrays), so the same body
-- runs on one node and on a Citus shard, where the trigger fires on the
-- node that holds the tenant and a statement that mixed the transition
-- table with a distributed table could not be planned. A statement almost
-- always publishes for one tenant: one turn of the loop.
--
-- The wake-up (V14's latch) is for workers that LISTEN on this database;
-- on Citus it is switched off (outbound.settings.notify, set by
-- `migrate --citus`): a NOTIFY on a worker node would make any transaction
-- that writes on two nodes fail to commit, and workers poll there instead.
ALTER TABLE outbound.settings ADD COLUMN notify boolean NOT NULL DEFAULT true;

CREATE OR REPLACE FUNCTION outbound.fan_out() RETURNS trigger
LANGUAGE plpgsql
SET jit = off
AS $$
DECLARE
    too_deep text;
    v_tenant text;
    v_ids text[];
    v_topics text[];
    v_times timestamptz[];
    v_retry boolean[];
    v_only text[];
    v_metadata jsonb[];
    v_data json[];
    v_filtered boolean;
    n_events bigint;
    n_queued bigint;
    queued bigint := 0;
BEGIN
    -- Data nested deeper than 128 levels is refused (V6: the cheap bracket
    -- count first, the exact check only when it says it may be that deep).
    SELECT n.id INTO too_deep
    FROM new_events n
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

    FOR v_tenant IN SELECT DISTINCT n.tenant_id FROM new_events n LOOP
        SELECT array_agg(n.id), array_agg(n.topic), array_agg(n.time),
               array_agg(n.eligible_for_retry), array_agg(n.destination_id),
               array_agg(n.metadata), array_agg(n.data)
        INTO v_ids, v_topics, v_times, v_retry, v_only, v_metadata, v_data
        FROM new_events n
        WHERE n.tenant_id = v_tenant;

        -- Raises unique_violation on event_id_unique for an id seen before.
        INSERT INTO outbound.event_ids (tenant_id, id, time)
        SELECT v_tenant, u.id, u.time FROM unnest(v_ids, v_times) AS u(id, time);
        GET DIAGNOSTICS n_events = ROW_COUNT;

        -- The envelope is built only when the tenant has a filtered
        -- destination.
        v_filtered := EXISTS (SELECT 1 FROM outbound.destinations f
                              WHERE f.tenant_id = v_tenant AND f.filter_path IS NOT NULL);

        -- A disabled destination gets its matching events too, held (V15).
        INSERT INTO outbound.deliveries (event_id, destination_id, tenant_id, event_time, retry,
                                         next_attempt_at, state)
        SELECT n.id, d.id, v_tenant, n.time, n.retry, now(),
               CASE WHEN d.disabled_at IS NULL THEN 'pending' ELSE 'held' END::outbound.delivery_state
        FROM (SELECT u.*,
                     CASE WHEN v_filtered
                          THEN outbound.envelope(u.id, u.topic, u.time, u.metadata, u.data)
                     END AS envelope
              FROM unnest(v_ids, v_topics, v_times, v_retry, v_only, v_metadata, v_data)
                   AS u(id, topic, time, retry, only_to, metadata, data)) n
        JOIN outbound.destinations d
          ON d.tenant_id = v_tenant
         AND d.topics && ARRAY['*', n.topic]
         AND (n.only_to IS NULL OR d.id = n.only_to)
         AND (d.filter_path IS NULL OR jsonb_path_match(n.envelope, d.filter_path, '{}', true));
        GET DIAGNOSTICS n_queued = ROW_COUNT;
        queued := queued + n_queued;

        -- Queuing for a destination proves the tenant exists (V5).
        IF (n_queued = 0 OR n_events > 1)
           AND NOT EXISTS (SELECT 1 FROM outbound.tenants t WHERE t.id = v_tenant) THEN
            RAISE EXCEPTION 'outbound: tenant "%" does not exist', v_tenant
                USING ERRCODE = 'foreign_key_violation',
                      HINT = 'create the tenant first (PUT /api/v1/tenants/{id} or INSERT INTO outbound.tenants)';
        END IF;
    END LOOP;

    -- The wake-up latch (V14).
    IF queued > 0 AND (SELECT s.notify FROM outbound.settings s) THEN
        IF EXISTS (SELECT 1 FROM outbound.workers WHERE idle) THEN
            UPDATE outbound.workers w SET idle = false
            FROM (SELECT id FROM outbound.workers WHERE idle FOR UPDATE SKIP LOCKED) s
            WHERE w.id = s.id;
            PERFORM pg_notify('outbound_deliveries', '');
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- maintain(): V13's, with the alert windows keyed by tenant and every join
-- matching tenant_id.
CREATE OR REPLACE FUNCTION outbound.maintain(at timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    s       outbound.settings;
    today   date := (at AT TIME ZONE 'UTC')::date;
    cutoff  timestamptz;
    d       date;
    r       record;
    created integer := 0;
    dropped integer := 0;
    skipped integer := 0;
    ids     bigint;
    orphans bigint;
    expired jsonb;
    alerts  bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('outbound.maintain')) THEN
        RETURN jsonb_build_object('ran', false);
    END IF;
    SELECT * INTO s FROM outbound.settings;
    cutoff := at - s.retention;

    FOR d IN SELECT today + k FROM generate_series(-1, s.partitions_ahead) AS k LOOP
        created := created + outbound.ensure_partition('events', d) + outbound.ensure_partition('attempts', d);
    END LOOP;

    -- A partition is dropped once its whole day is older than the cutoff.
    FOR r IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent IN ('outbound.events'::regclass, 'outbound.attempts'::regclass)
          AND c.relname ~ '_p[0-9]{8}$'
          AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff
    LOOP
        BEGIN
            -- Dropping a partition briefly locks its parent; never queue
            -- behind a long reader for long, try again next run instead.
            SET LOCAL lock_timeout = '2s';
            EXECUTE format('DROP TABLE outbound.%I', r.relname);
            dropped := dropped + 1;
        EXCEPTION WHEN lock_not_available THEN
            skipped := skipped + 1;
        END;
    END LOOP;
    SET LOCAL lock_timeout = 0;

    DELETE FROM outbound.events_default WHERE time < cutoff;
    DELETE FROM outbound.attempts_default WHERE time < cutoff;
    DELETE FROM outbound.event_ids WHERE time < cutoff;
    GET DIAGNOSTICS ids = ROW_COUNT;

    -- Deliveries whose event has expired can never be sent: end each with
    -- an 'expired' attempt (logged at `at`, so in a partition that stays),
    -- in this transaction, so none is ever left pointing at a dropped event
    -- and none ends without a trace.
    --
    -- Each destination concerned also raises alert.attempt.exhausted_retries
    -- into the operator-event outbox, here and not in the caller: pg_cron
    -- runs this function with no process watching its report. The topic's
    -- switch and window come from outbound.settings (written by each
    -- process at start), the once-per-window rule from the same
    -- operator_alert_windows row a worker's final failure takes
    -- (sql/queries/operator_events/exhausted_retries.sql), so the two
    -- paths never alert twice for one destination within the window.
    --
    -- The event itself is usually gone by now, dropped with its partition
    -- a few lines above: `event` is then built from what the delivery row
    -- knew (id and time); only an event still stored (its partition was
    -- busy) is described in full. `attempt` is the 'expired' attempt just
    -- logged, read from the INSERT's RETURNING (this statement's snapshot
    -- cannot see its own insert in outbound.attempts).
    WITH gone AS (
        DELETE FROM outbound.deliveries WHERE event_time < cutoff
        RETURNING tenant_id, event_id, event_time, destination_id, attempts, manual
    ), logged AS (
        INSERT INTO outbound.attempts (tenant_id, event_id, event_time, destination_id,
                                       attempt_number, manual, status, code, duration_ms, time)
        SELECT tenant_id, event_id, event_time, destination_id, attempts + 1, manual,
               'failed', 'expired', 0, at
        FROM gone
        RETURNING id, tenant_id, destination_id, event_id, event_time, attempt_number, manual,
                  status, code, response_status, time
    ), per_destination AS (
        SELECT tenant_id, destination_id, count(*) AS deliveries, min(event_id) AS event_id
        FROM logged
        GROUP BY tenant_id, destination_id
    ), taken AS (
        INSERT INTO outbound.operator_alert_windows AS w (tenant_id, destination_id, topic, last_at)
        SELECT p.tenant_id, p.destination_id, 'alert.attempt.exhausted_retries', at
        FROM per_destination p
        WHERE s.exhausted_retries_alert
          AND EXISTS (SELECT 1 FROM outbound.destinations x
                      WHERE x.tenant_id = p.tenant_id AND x.id = p.destination_id)
        ON CONFLICT (tenant_id, destination_id, topic) DO UPDATE SET last_at = excluded.last_at
        -- (a difference of times, not a sum: Citus takes only immutable
        -- expressions here, and adding an interval depends on the time zone)
        WHERE excluded.last_at - w.last_at >= s.exhausted_retries_window_ms * interval '1 millisecond'
        RETURNING w.tenant_id, w.destination_id
    ), alerted AS (
        INSERT INTO outbound.operator_events (topic, time, tenant_id, data)
        SELECT 'alert.attempt.exhausted_retries', at, dst.tenant_id,
               jsonb_build_object(
                   'tenant_id', dst.tenant_id,
                   'event', coalesce(
                       (SELECT jsonb_build_object('id', e.id, 'topic', e.topic, 'time', e.time,
                                                  'metadata', e.metadata, 'data', e.data::jsonb)
                        FROM outbound.events e
                        WHERE e.tenant_id = a.tenant_id AND e.id = a.event_id
                          AND e.time = a.event_time LIMIT 1),
                       jsonb_build_object('id', a.event_id, 'time', a.event_time)),
                   'attempt', jsonb_build_object('id', a.id::text, 'tenant_id', a.tenant_id,
                                                 'event_id', a.event_id,
                                                 'destination_id', a.destination_id,
                                                 'status', a.status, 'code', a.code,
                                                 'response_status', a.response_status,
                                                 'attempt_number', a.attempt_number,
                                                 'manual', a.manual, 'time', a.time),
                   'destination', jsonb_build_object('id', dst.id, 'tenant_id', dst.tenant_id,
                                                     'type', dst.type, 'topics', to_jsonb(dst.topics),
                                                     'config', dst.config - 'custom_headers',
                                                     'created_at', dst.created_at,
                                                     'disabled_at', dst.disabled_at))
        FROM taken t
        JOIN per_destination p ON p.tenant_id = t.tenant_id AND p.destination_id = t.destination_id
        JOIN logged a ON a.tenant_id = p.tenant_id AND a.destination_id = p.destination_id
                     AND a.event_id = p.event_id
        JOIN outbound.destinations dst ON dst.tenant_id = p.tenant_id AND dst.id = p.destination_id
        RETURNING 1
    )
    SELECT coalesce(sum(deliveries), 0),
           coalesce(jsonb_agg(jsonb_build_object('tenant_id', tenant_id, 'destination_id', destination_id,
                                                 'deliveries', deliveries, 'event_id', event_id)),
                    '[]'::jsonb),
           (SELECT count(*) FROM alerted)
    INTO orphans, expired, alerts
    FROM per_destination;

    -- Workers that stopped heart-beating long ago (killed) leave no idle flag behind.
    DELETE FROM outbound.workers WHERE heartbeat_at < at - interval '10 minutes';

    RETURN jsonb_build_object('ran', true, 'partitions_created', created, 'partitions_dropped', dropped,
                              'partitions_busy', skipped, 'event_ids_expired', ids,
                              'deliveries_expired', orphans, 'expired', expired,
                              'exhausted_retries_alerts', alerts);
END
$$;

-- The queue's indexes by destination lead with its tenant, as the
-- destination's key does.
DROP INDEX outbound.deliveries_parked;
CREATE INDEX deliveries_parked ON outbound.deliveries (tenant_id, destination_id, next_attempt_at)
    WHERE state = 'parked';
DROP INDEX outbound.deliveries_held;
CREATE INDEX deliveries_held ON outbound.deliveries (tenant_id, destination_id, event_time)
    WHERE state = 'held';
DROP INDEX outbound.deliveries_retrying;
CREATE INDEX deliveries_retrying ON outbound.deliveries (tenant_id, destination_id)
    WHERE state = 'pending' AND attempts > 0;
-- A delivery's attempts, within its tenant.
DROP INDEX outbound.attempts_event;
CREATE INDEX attempts_event ON outbound.attempts (tenant_id, event_id, destination_id, attempt_number);
