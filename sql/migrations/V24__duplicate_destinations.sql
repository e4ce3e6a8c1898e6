-- V24: a duplicate publish answers every destination its event went to.
--
-- V19 answered a duplicate with the destinations its event was still
-- queued for. Once a delivery was sent and recorded its queued row is gone,
-- so a duplicate of a delivered event answered an empty list. Outpost's
-- SDK check caught it when the worker was quicker than the second publish.
-- A duplicate now answers the union of what is queued and what was
-- attempted (a recorded attempt replaces its queued row in the same
-- statement, deliveries/record.sql, so nothing falls between the two).
-- A first publish still reads only the queue: its event has no attempts.

-- The destinations an event of a tenant went to: queued or attempted.
CREATE FUNCTION outbound.event_destinations(p_tenant_id text, p_event_id text)
RETURNS text[]
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(array_agg(x.destination_id ORDER BY x.destination_id), ARRAY[]::text[])
    FROM (SELECT d.destination_id FROM outbound.deliveries d
          WHERE d.tenant_id = p_tenant_id AND d.event_id = p_event_id
          UNION
          SELECT a.destination_id FROM outbound.attempts a
          WHERE a.tenant_id = p_tenant_id AND a.event_id = p_event_id) x
$$;

-- publish(): as V19; a duplicate (also one committed concurrently) answers
-- outbound.event_destinations().
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
        RETURN QUERY SELECT v_id, true, outbound.event_destinations(publish.tenant_id, v_id);
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
        RETURN QUERY SELECT v_id, true, outbound.event_destinations(publish.tenant_id, v_id);
        RETURN;
    END;
    RETURN QUERY
        SELECT v_id, false, coalesce(array_agg(d.destination_id ORDER BY d.destination_id), ARRAY[]::text[])
        FROM outbound.deliveries d
        WHERE d.tenant_id = publish.tenant_id AND d.event_id = v_id;
END
$$;

-- publish_batch(): as V19; a duplicate of an event published before this
-- call also answers where it was already sent. A call with no such event
-- (the usual one) runs V19's query unchanged.
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

    IF cardinality(v_seen) = 0 THEN
        -- No event of the call was published before: V19's query, as it was.
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
        RETURN;
    END IF;
    RETURN QUERY
        WITH made AS (
            -- What was queued for each event, and for an event published
            -- before this call also where it was already sent (attempts):
            -- a delivered event has no queued row left.
            -- (v_seen is empty for a batch of new events: the second part
            -- then costs nothing.)
            SELECT d.tenant_id, d.event_id, d.destination_id
            FROM outbound.deliveries d
            JOIN (SELECT DISTINCT * FROM unnest(p_tenant_ids, v_ids)) AS u(tenant_id, id)
              ON d.tenant_id = u.tenant_id AND d.event_id = u.id
            UNION ALL
            SELECT DISTINCT a.tenant_id, a.event_id, a.destination_id
            FROM outbound.attempts a
            JOIN (SELECT split_part(s, E'\n', 1), split_part(s, E'\n', 2)
                  FROM unnest(v_seen) AS s) AS u(tenant_id, id)
              ON a.tenant_id = u.tenant_id AND a.event_id = u.id
            WHERE NOT EXISTS (SELECT 1 FROM outbound.deliveries q
                              WHERE q.tenant_id = a.tenant_id AND q.event_id = a.event_id
                                AND q.destination_id = a.destination_id)
        ), queued AS (
            SELECT m.tenant_id || E'\n' || m.event_id AS key,
                   array_agg(m.destination_id ORDER BY m.destination_id) AS ids
            FROM made m
            GROUP BY m.tenant_id, m.event_id
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
