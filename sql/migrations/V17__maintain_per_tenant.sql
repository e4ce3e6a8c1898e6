-- V17: maintain() expires deliveries tenant by tenant.
--
-- Its statement that ends expired deliveries (and raises their alerts)
-- joins the queue, the attempt log, the destinations and the operator
-- outbox. On Citus, joins between those and the statement's own CTEs are
-- refused unless every table is pinned to one tenant ("complex joins are
-- only supported when all distributed tables are co-located and joined on
-- their distribution columns"): the statement now runs once per tenant with
-- expired deliveries, with that tenant as a constant, which Citus plans and
-- a single node runs as before. Nothing else changes.

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
    orphans bigint := 0;
    expired jsonb := '[]';
    alerts  bigint := 0;
    v_tenant  text;
    n_orphans bigint;
    n_expired jsonb;
    n_alerts  bigint;
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
    FOR v_tenant IN SELECT DISTINCT tenant_id FROM outbound.deliveries WHERE event_time < cutoff LOOP
        WITH gone AS (
            DELETE FROM outbound.deliveries WHERE tenant_id = v_tenant AND event_time < cutoff
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
                          WHERE x.tenant_id = v_tenant AND x.id = p.destination_id)
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
                            WHERE e.tenant_id = v_tenant AND e.id = a.event_id
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
            JOIN outbound.destinations dst ON dst.tenant_id = v_tenant AND dst.id = p.destination_id
            RETURNING 1
        )
        SELECT coalesce(sum(deliveries), 0),
               coalesce(jsonb_agg(jsonb_build_object('tenant_id', tenant_id, 'destination_id', destination_id,
                                                     'deliveries', deliveries, 'event_id', event_id)),
                        '[]'::jsonb),
               (SELECT count(*) FROM alerted)
        INTO n_orphans, n_expired, n_alerts
        FROM per_destination;
        orphans := orphans + n_orphans;
        expired := expired || n_expired;
        alerts := alerts + n_alerts;
    END LOOP;

    -- Workers that stopped heart-beating long ago (killed) leave no idle flag behind.
    DELETE FROM outbound.workers WHERE heartbeat_at < at - interval '10 minutes';

    RETURN jsonb_build_object('ran', true, 'partitions_created', created, 'partitions_dropped', dropped,
                              'partitions_busy', skipped, 'event_ids_expired', ids,
                              'deliveries_expired', orphans, 'expired', expired,
                              'exhausted_retries_alerts', alerts);
END
$$;
