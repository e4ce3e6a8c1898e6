-- V19: wildcard topics, events without a topic, and what a duplicate
-- publish answers (Outpost parity, issue 23).
--
-- 1. A destination may subscribe to patterns where `*` stands for any run
--    of characters (`user.*`, `*.created`, `order.*.completed`), as
--    Outpost's TOPICS_ALLOW_WILDCARDS allows. The API keeps the topics as
--    written in `topics` and their LIKE patterns in `topic_patterns` (NULL
--    when there are none), so the fan-out still tests plain topics with the
--    array overlap it always did and only adds a LIKE for the patterns.
--    Until now a pattern was stored as a literal topic that never matched:
--    the ones stored before are turned into patterns here, since that is
--    what whoever wrote them meant.
-- 2. An event without a topic (Outpost: the topic is optional when no
--    topics are configured) is stored with the topic '' and, like an event
--    published with the topic '*', goes to every destination of its tenant
--    whose filter it passes. The events table's CHECK refused ''; the
--    fan-out now refuses a topic longer than 255 characters instead (a CHECK
--    changed on a partitioned table would scan every partition).
-- 3. A duplicate publish answers the destinations the event was queued for
--    when it was first published (Outpost answers the matched ones); it
--    answered an empty list.

ALTER TABLE outbound.destinations ADD COLUMN topic_patterns text[];

-- `*` → `%`, with LIKE's own wildcards and its escape character escaped.
UPDATE outbound.destinations d
SET topic_patterns = ARRAY(
        SELECT replace(replace(replace(replace(t, '\', '\\'), '%', '\%'), '_', '\_'), '*', '%')
        FROM unnest(d.topics) AS t
        WHERE strpos(t, '*') > 0)
WHERE NOT ('*' = ANY (d.topics))
  AND strpos(array_to_string(d.topics, ' '), '*') > 0;

ALTER TABLE outbound.events DROP CONSTRAINT events_topic_format;

-- publish(): as V16; a duplicate answers the deliveries made for the event.
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
        RETURN QUERY
            SELECT v_id, true, coalesce(array_agg(d.destination_id ORDER BY d.destination_id), ARRAY[]::text[])
            FROM outbound.deliveries d
            WHERE d.tenant_id = publish.tenant_id AND d.event_id = v_id;
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

-- publish_batch(): as V16; every duplicate answers the deliveries made for
-- its event.
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
               coalesce(q.ids, ARRAY[]::text[])
        FROM numbered u
        LEFT JOIN queued q ON q.key = u.key
        ORDER BY u.k;
END
$$;

-- fan_out(): as V18, with patterns, events without a topic, and the
-- topic's length checked here.
CREATE OR REPLACE FUNCTION outbound.fan_out() RETURNS trigger
LANGUAGE plpgsql
SET jit = off
AS $$
DECLARE
    s_notify boolean;
    s_distributed boolean;
    unknown_tenant text;
    too_deep text;
    too_long boolean;
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
    -- A topic longer than 255 characters (V19: was a CHECK on events,
    -- which also refused the empty topic) and data nested deeper than 128
    -- levels (V6: the cheap bracket count first, the exact check only when
    -- it says it may be that deep) are refused.
    SELECT n.id, length(n.topic) > 255 INTO too_deep, too_long
    FROM new_events n
    WHERE length(n.topic) > 255
       OR CASE WHEN octet_length(n.data::text)
                    - octet_length(replace(replace(n.data::text, '[', ''), '{', '')) > 128
               THEN jsonb_path_exists(n.data::jsonb,
                        'strict $.**{128} ? (@.type() == "object" || @.type() == "array")')
               ELSE false END
    LIMIT 1;
    IF FOUND AND too_long THEN
        RAISE EXCEPTION 'outbound: the topic of event "%" is longer than 255 characters', too_deep
            USING ERRCODE = 'check_violation',
                  HINT = 'a topic is at most 255 characters';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'outbound: the data of event "%" is nested deeper than 128 levels', too_deep
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'objects and arrays may nest at most 128 levels deep';
    END IF;

    SELECT s.notify, s.distributed INTO s_notify, s_distributed FROM outbound.settings s;

    IF NOT coalesce(s_distributed, false) THEN
        -- One node: every statement over the whole transition table.
        -- Raises unique_violation on event_id_unique for an id seen before.
        INSERT INTO outbound.event_ids (tenant_id, id, time)
        SELECT n.tenant_id, n.id, n.time FROM new_events n;
        GET DIAGNOSTICS n_events = ROW_COUNT;

        -- The envelope is built only for a tenant with a filtered destination.
        WITH n AS MATERIALIZED (
            SELECT n.id, n.tenant_id, n.topic, n.time, n.eligible_for_retry, n.destination_id,
                   CASE WHEN EXISTS (SELECT 1 FROM outbound.destinations f
                                     WHERE f.tenant_id = n.tenant_id AND f.filter_path IS NOT NULL)
                        THEN outbound.envelope(n.id, n.topic, n.time, n.metadata, n.data)
                   END AS envelope
            FROM new_events n
        )
        -- A disabled destination gets its matching events too, held (V15).
        INSERT INTO outbound.deliveries (event_id, destination_id, tenant_id, event_time, retry,
                                         next_attempt_at, state)
        SELECT n.id, d.id, n.tenant_id, n.time, n.eligible_for_retry, now(),
               CASE WHEN d.disabled_at IS NULL THEN 'pending' ELSE 'held' END::outbound.delivery_state
        FROM n
        JOIN outbound.destinations d
          ON d.tenant_id = n.tenant_id
         AND (d.topics && ARRAY['*', n.topic] OR n.topic IN ('', '*')
              OR n.topic LIKE ANY (d.topic_patterns))
         AND (n.destination_id IS NULL OR d.id = n.destination_id)
         AND (d.filter_path IS NULL OR jsonb_path_match(n.envelope, d.filter_path, '{}', true));
        GET DIAGNOSTICS queued = ROW_COUNT;

        -- Queuing for a destination proves the tenant exists (V5).
        IF queued = 0 OR n_events > 1 THEN
            SELECT n.tenant_id INTO unknown_tenant
            FROM new_events n
            WHERE NOT EXISTS (SELECT 1 FROM outbound.tenants t WHERE t.id = n.tenant_id)
            LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'outbound: tenant "%" does not exist', unknown_tenant
                    USING ERRCODE = 'foreign_key_violation',
                          HINT = 'create the tenant first (PUT /api/v1/tenants/{id} or INSERT INTO outbound.tenants)';
            END IF;
        END IF;
    ELSE
        -- Citus: this runs on the shard, on the worker node that holds the
        -- tenants. Per tenant, the transition table read into arrays and
        -- every statement with the tenant as a constant (V16).
        FOR v_tenant IN SELECT DISTINCT n.tenant_id FROM new_events n LOOP
            SELECT array_agg(n.id), array_agg(n.topic), array_agg(n.time),
                   array_agg(n.eligible_for_retry), array_agg(n.destination_id),
                   array_agg(n.metadata), array_agg(n.data)
            INTO v_ids, v_topics, v_times, v_retry, v_only, v_metadata, v_data
            FROM new_events n
            WHERE n.tenant_id = v_tenant;

            INSERT INTO outbound.event_ids (tenant_id, id, time)
            SELECT v_tenant, u.id, u.time FROM unnest(v_ids, v_times) AS u(id, time);
            GET DIAGNOSTICS n_events = ROW_COUNT;

            v_filtered := EXISTS (SELECT 1 FROM outbound.destinations f
                                  WHERE f.tenant_id = v_tenant AND f.filter_path IS NOT NULL);

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
             AND (d.topics && ARRAY['*', n.topic] OR n.topic IN ('', '*')
                  OR n.topic LIKE ANY (d.topic_patterns))
             AND (n.only_to IS NULL OR d.id = n.only_to)
             AND (d.filter_path IS NULL OR jsonb_path_match(n.envelope, d.filter_path, '{}', true));
            GET DIAGNOSTICS n_queued = ROW_COUNT;
            queued := queued + n_queued;

            IF (n_queued = 0 OR n_events > 1)
               AND NOT EXISTS (SELECT 1 FROM outbound.tenants t WHERE t.id = v_tenant) THEN
                RAISE EXCEPTION 'outbound: tenant "%" does not exist', v_tenant
                    USING ERRCODE = 'foreign_key_violation',
                          HINT = 'create the tenant first (PUT /api/v1/tenants/{id} or INSERT INTO outbound.tenants)';
            END IF;
        END LOOP;
    END IF;

    -- The wake-up latch (V14), where workers LISTEN (not on Citus).
    IF queued > 0 AND s_notify THEN
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
