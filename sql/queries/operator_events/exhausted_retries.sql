-- operator_events/exhausted_retries: $1 destination_id[], $2 event_id[],
-- $3 attempt_number[] (the last, failed attempt), $4 window in ms,
-- $5 now, $6 tenant_id[] (each destination's tenant).
--
-- alert.attempt.exhausted_retries, at most once per destination per
-- window: the window row is taken (inserted, or moved on when the window
-- has passed) and only a destination whose row this statement took gets
-- the event, for the first of its deliveries in the batch. Two recorders
-- racing for one destination serialise on the row's ON CONFLICT.
--
-- $7 tenant_id[], on Citus only: the tenants of the batch, all of one shard
-- group (the recorder splits its batches so). The /*citus: …*/ filters on
-- it are part of the statement only there (queries::routed), where they let
-- Citus route it to that group's node; on one node they are comments.
WITH input AS (
    SELECT DISTINCT ON (tenant_id, destination_id) *
    FROM unnest($1::text[], $2::text[], $3::int[], $6::text[])
        AS i(destination_id, event_id, attempt_number, tenant_id)
    ORDER BY tenant_id, destination_id
), taken AS (
    INSERT INTO outbound.operator_alert_windows AS w (tenant_id, destination_id, topic, last_at)
    SELECT i.tenant_id, i.destination_id, 'alert.attempt.exhausted_retries', $5::timestamptz
    FROM input i
    WHERE EXISTS (SELECT 1 FROM outbound.destinations d
                  WHERE d.tenant_id = i.tenant_id AND d.id = i.destination_id
                    /*citus: AND d.tenant_id = ANY ($7)*/)
    ON CONFLICT (tenant_id, destination_id, topic) DO UPDATE SET last_at = excluded.last_at
    -- (a difference of times: Citus takes only immutable expressions here)
    WHERE excluded.last_at - w.last_at >= $4::bigint * interval '1 millisecond'
    RETURNING w.tenant_id, w.destination_id
)
INSERT INTO outbound.operator_events (topic, time, tenant_id, data)
SELECT 'alert.attempt.exhausted_retries', $5::timestamptz, d.tenant_id,
       jsonb_build_object(
           'tenant_id', d.tenant_id,
           'event', (SELECT jsonb_build_object('id', e.id, 'topic', e.topic, 'time', e.time,
                                               'metadata', e.metadata, 'data', e.data::jsonb)
                     FROM outbound.events e
                     WHERE e.tenant_id = i.tenant_id AND e.id = i.event_id
                       /*citus: AND e.tenant_id = ANY ($7)*/ LIMIT 1),
           'attempt', (SELECT jsonb_build_object('id', a.id::text, 'tenant_id', a.tenant_id,
                                                 'event_id', a.event_id,
                                                 'destination_id', a.destination_id,
                                                 'status', a.status, 'code', a.code,
                                                 'response_status', a.response_status,
                                                 'attempt_number', a.attempt_number,
                                                 'manual', a.manual, 'time', a.time)
                       FROM outbound.attempts a
                       WHERE a.tenant_id = i.tenant_id AND a.event_id = i.event_id
                         AND a.destination_id = i.destination_id
                         AND a.attempt_number = i.attempt_number
                         /*citus: AND a.tenant_id = ANY ($7)*/
                       ORDER BY a.time DESC LIMIT 1),
           'destination', jsonb_build_object('id', d.id, 'tenant_id', d.tenant_id,
                                             'type', d.type, 'topics', to_jsonb(d.topics),
                                             'config', d.config - 'custom_headers',
                                             'created_at', d.created_at,
                                             'disabled_at', d.disabled_at)
       )
FROM input i
JOIN taken t ON t.tenant_id = i.tenant_id AND t.destination_id = i.destination_id
JOIN outbound.destinations d ON d.tenant_id = i.tenant_id AND d.id = i.destination_id
                             /*citus: AND d.tenant_id = ANY ($7)*/
