-- V5: the fan-out checks that the tenant exists only when that is not
-- already known.
--
-- A destination belongs to an existing tenant (destinations.tenant_id
-- references tenants), so an event published alone that was queued for at
-- least one destination has an existing tenant. The check, one statement
-- of the trigger (~15 µs of a single-row publish), now runs only for an
-- event that matched no destination, and for every multi-row statement as
-- before. Measured on a 2-core machine, 16 connections publishing one event
-- per transaction to one destination: 8.8k → 9.3k events/s.
--
-- The id is now registered first, so an INSERT of an id seen before for a
-- tenant that does not exist fails as the duplicate (unique_violation on
-- event_id_unique) rather than as the unknown tenant; either way nothing
-- is inserted, and outbound.publish() checks for duplicates first anyway.
CREATE OR REPLACE FUNCTION outbound.fan_out() RETURNS trigger
LANGUAGE plpgsql
SET jit = off
AS $$
DECLARE
    unknown_tenant text;
    n_events bigint;
    n_queued bigint;
BEGIN
    -- Raises unique_violation on event_id_unique for an id seen before.
    INSERT INTO outbound.event_ids (id, time) SELECT n.id, n.time FROM new_events n;
    GET DIAGNOSTICS n_events = ROW_COUNT;

    WITH n AS MATERIALIZED (
        SELECT n.id, n.tenant_id, n.topic, n.time, n.eligible_for_retry, n.destination_id,
               CASE WHEN EXISTS (SELECT 1 FROM outbound.destinations f
                                 WHERE f.tenant_id = n.tenant_id AND f.disabled_at IS NULL
                                   AND f.filter_path IS NOT NULL)
                    THEN outbound.envelope(n.id, n.topic, n.time, n.metadata, n.data)
               END AS envelope
        FROM new_events n
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
    GET DIAGNOSTICS n_queued = ROW_COUNT;

    IF n_queued = 0 OR n_events > 1 THEN
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

    IF n_queued > 0 AND EXISTS (SELECT 1 FROM outbound.workers WHERE idle) THEN
        PERFORM pg_notify('outbound_deliveries', '');
    END IF;
    RETURN NULL;
END
$$;
