-- V13: maintain() raises alert.attempt.exhausted_retries itself for the
-- deliveries it ends at the retention (V12 only reported them, and with
-- pg_cron running maintain() nobody reads the report).
--
-- What SQL needs to know of the service's settings, next to the retention
-- (store::maintenance::apply_alert_settings): whether the topic is on
-- (it is in OPERATOR_EVENTS_TOPICS and a sink is configured) and its
-- window (ALERT_EXHAUSTED_RETRIES_WINDOW_SECONDS). Each process writes
-- them when it starts (serve, worker, migrate); the database holds one
-- value, so with processes configured differently the last one started
-- wins. Off until a process says otherwise.
ALTER TABLE outbound.settings
    ADD COLUMN exhausted_retries_alert boolean NOT NULL DEFAULT false,
    ADD COLUMN exhausted_retries_window_ms bigint NOT NULL DEFAULT 3600000
        CONSTRAINT settings_exhausted_retries_window_non_negative
        CHECK (exhausted_retries_window_ms >= 0);

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
        INSERT INTO outbound.operator_alert_windows AS w (destination_id, topic, last_at)
        SELECT p.destination_id, 'alert.attempt.exhausted_retries', at
        FROM per_destination p
        WHERE s.exhausted_retries_alert
          AND EXISTS (SELECT 1 FROM outbound.destinations x WHERE x.id = p.destination_id)
        ON CONFLICT (destination_id, topic) DO UPDATE SET last_at = excluded.last_at
        WHERE w.last_at + s.exhausted_retries_window_ms * interval '1 millisecond' <= excluded.last_at
        RETURNING w.destination_id
    ), alerted AS (
        INSERT INTO outbound.operator_events (topic, time, tenant_id, data)
        SELECT 'alert.attempt.exhausted_retries', at, dst.tenant_id,
               jsonb_build_object(
                   'tenant_id', dst.tenant_id,
                   'event', coalesce(
                       (SELECT jsonb_build_object('id', e.id, 'topic', e.topic, 'time', e.time,
                                                  'metadata', e.metadata, 'data', e.data::jsonb)
                        FROM outbound.events e
                        WHERE e.id = a.event_id AND e.time = a.event_time LIMIT 1),
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
        JOIN per_destination p ON p.destination_id = t.destination_id
        JOIN logged a ON a.destination_id = p.destination_id AND a.event_id = p.event_id
        JOIN outbound.destinations dst ON dst.id = p.destination_id
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
