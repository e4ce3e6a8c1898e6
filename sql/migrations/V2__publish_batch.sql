-- V2: publishing many events in one statement, for the API; and a
-- duplicate id racing in the same microsecond is a duplicate, not an error.
--
-- Concurrent POST /publish requests are gathered into one call of this
-- function: one INSERT (one fan-out trigger run, one commit) for the lot
-- instead of one per request. It answers each event exactly as
-- outbound.publish() would, in input order: an id accepted before, or
-- repeated within the batch, is a duplicate and not inserted again.
--
-- An error (an unknown tenant, or a concurrent publish of the same id
-- committing first) fails the whole call; the service then publishes that
-- batch's events one by one with outbound.publish(), which reports each
-- event's own outcome.
CREATE FUNCTION outbound.publish_batch(
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
                   (SELECT coalesce(array_agg(d.destination_id ORDER BY d.destination_id),
                                    ARRAY[]::text[])
                    FROM outbound.deliveries d
                    WHERE d.event_id = u.id)
               ELSE ARRAY[]::text[] END
        FROM (SELECT v.id, v.k, min(v.k) OVER (PARTITION BY v.id) AS first_k
              FROM unnest(v_ids) WITH ORDINALITY AS v(id, k)) u
        ORDER BY u.k;
END
$$;

-- Two concurrent publishes of one id whose transactions started in the
-- same microsecond collide on the events key (id, time) before event_ids
-- sees them: that is a duplicate too.
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
        SELECT v_id, false, coalesce(array_agg(d.destination_id ORDER BY d.destination_id), ARRAY[]::text[])
        FROM outbound.deliveries d
        WHERE d.event_id = v_id;
END
$$;
