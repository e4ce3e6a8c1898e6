-- V12: a delivery still waiting when its event reaches the retention is
-- ended, not silently deleted. Until now maintain() deleted such deliveries
-- (their event is gone with its partition, so they could never be sent);
-- now each one also gets a last attempt in the log, status 'failed' with
-- code 'expired', written in the same transaction as the delete, and the
-- report lists the destinations concerned so the caller can raise
-- alert.attempt.exhausted_retries (once per destination per run).
--
-- Every state is ended: pending, held (destination disabled), parked (over
-- its in-flight cap) and leased (a worker is sending it; its result is then
-- refused, as for any lost lease, because the row is gone).
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
    WITH gone AS (
        DELETE FROM outbound.deliveries WHERE event_time < cutoff
        RETURNING tenant_id, event_id, event_time, destination_id, attempts, manual
    ), logged AS (
        INSERT INTO outbound.attempts (tenant_id, event_id, event_time, destination_id,
                                       attempt_number, manual, status, code, duration_ms, time)
        SELECT tenant_id, event_id, event_time, destination_id, attempts + 1, manual,
               'failed', 'expired', 0, at
        FROM gone
        RETURNING tenant_id, destination_id, event_id
    ), per_destination AS (
        SELECT tenant_id, destination_id, count(*) AS deliveries, min(event_id) AS event_id
        FROM logged
        GROUP BY tenant_id, destination_id
    )
    SELECT coalesce(sum(deliveries), 0),
           coalesce(jsonb_agg(jsonb_build_object('tenant_id', tenant_id, 'destination_id', destination_id,
                                                 'deliveries', deliveries, 'event_id', event_id)),
                    '[]'::jsonb)
    INTO orphans, expired
    FROM per_destination;

    -- Workers that stopped heart-beating long ago (killed) leave no idle flag behind.
    DELETE FROM outbound.workers WHERE heartbeat_at < at - interval '10 minutes';

    RETURN jsonb_build_object('ran', true, 'partitions_created', created, 'partitions_dropped', dropped,
                              'partitions_busy', skipped, 'event_ids_expired', ids,
                              'deliveries_expired', orphans, 'expired', expired);
END
$$;
