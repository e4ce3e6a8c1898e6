-- V15: nothing lost when a destination fails.
--
-- 1. A disabled destination is paused, not unsubscribed: the fan-out queues
--    the events that match it as `held` deliveries, kept until it is
--    enabled (then delivered, or discarded if the tenant says so) or until
--    the retention ends them with an `expired` attempt (V12). Until now a
--    disabled destination did not match at all, so everything published
--    while it was disabled was lost to it.
-- 2. Auto-disable measures how long a destination has been failing, not
--    how many attempts failed at once (destinations/record_outcomes.sql):
--    the failure streak's first failure and its last counted one.

ALTER TABLE outbound.destinations
    -- When the current failure streak began (the first failure after the
    -- last success); NULL while the destination is not failing.
    ADD COLUMN failing_since timestamptz,
    -- When the streak's last counted failure was known: failures known
    -- within a second of it are part of it (they were in flight together).
    ADD COLUMN last_failure_at timestamptz;

-- A destination's held deliveries, oldest event first: counted for the API
-- and the portal, released or discarded in batches on enable. Only held
-- rows are in it, so publishing to enabled destinations never pays for it.
CREATE INDEX deliveries_held ON outbound.deliveries (destination_id, event_time)
    WHERE state = 'held';

-- The fan-out now reads every destination of a tenant, enabled or not.
DROP INDEX outbound.destinations_fan_out;
CREATE INDEX destinations_fan_out ON outbound.destinations (tenant_id);

-- The rest of fan_out() is V14's, unchanged, but for disabled destinations
-- (see the INSERT); this is now its live definition.
CREATE OR REPLACE FUNCTION outbound.fan_out() RETURNS trigger
LANGUAGE plpgsql
SET jit = off
AS $$
DECLARE
    unknown_tenant text;
    too_deep text;
    n_events bigint;
    n_queued bigint;
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
    GET DIAGNOSTICS n_events = ROW_COUNT;

    WITH n AS MATERIALIZED (
        SELECT n.id, n.tenant_id, n.topic, n.time, n.eligible_for_retry, n.destination_id,
               CASE WHEN EXISTS (SELECT 1 FROM outbound.destinations f
                                 WHERE f.tenant_id = n.tenant_id AND f.filter_path IS NOT NULL)
                    THEN outbound.envelope(n.id, n.topic, n.time, n.metadata, n.data)
               END AS envelope
        FROM new_events n
    )
    -- A disabled destination gets its matching events too, held: they wait
    -- for it to be enabled instead of being lost to it.
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

    -- The wake-up latch (V14). A statement that queued only held rows
    -- wakes a sleeping worker for nothing; disabled destinations are rare
    -- enough that telling the two apart is not worth a cost on every
    -- publish.
    IF n_queued > 0 AND EXISTS (SELECT 1 FROM outbound.workers WHERE idle) THEN
        UPDATE outbound.workers w SET idle = false
        FROM (SELECT id FROM outbound.workers WHERE idle FOR UPDATE SKIP LOCKED) s
        WHERE w.id = s.id;
        PERFORM pg_notify('outbound_deliveries', '');
    END IF;
    RETURN NULL;
END
$$;

-- The deliveries of a destination that are waiting to be retried: when its
-- circuit closes after an outage they are due at once instead of at their
-- retry times (deliveries/circuit_closed.sql), so the destination's backlog
-- goes out within seconds of its return, not over the next minutes. Only
-- rows that failed at least once are in it: the fan-out and the first
-- attempt never pay for it.
CREATE INDEX deliveries_retrying ON outbound.deliveries (destination_id)
    WHERE state = 'pending' AND attempts > 0;
