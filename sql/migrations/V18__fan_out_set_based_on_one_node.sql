-- V18: on a single node the fan-out runs set-based again.
--
-- V16 rewrote the trigger for Citus: a loop per tenant, the transition
-- table read into arrays, every statement on outbound's tables with that
-- tenant as a constant (Citus can neither read the transition table from a
-- distributed statement nor route one that spans tenants). On one node that
-- costs: the arrays copy every event's data, and the statements run once
-- per tenant. Measured with pgbench (8 clients, 1 KiB events, 10
-- destinations of which 3 match): single-row inserts 2,643-3,737 tps with
-- V16's body against 3,455-4,792 with this one (+24-35 %), 50-row inserts
-- 255-399 against 330-482 (+14-30 %).
--
-- So the body has two paths, chosen by outbound.settings.distributed
-- (false here; `outbound migrate --citus` sets it): the set-based one of
-- V15 with every join on tenant_id, and V16's per-tenant loop.

ALTER TABLE outbound.settings ADD COLUMN distributed boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION outbound.fan_out() RETURNS trigger
LANGUAGE plpgsql
SET jit = off
AS $$
DECLARE
    s_notify boolean;
    s_distributed boolean;
    unknown_tenant text;
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
         AND d.topics && ARRAY['*', n.topic]
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
             AND d.topics && ARRAY['*', n.topic]
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
