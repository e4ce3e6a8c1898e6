-- operator_events/alert: $1 topic[] (alert.destination.consecutive_failure
-- or alert.destination.disabled), $2 destination_id[], $3 event_id[],
-- $4 attempt_number[] (the attempt that caused the alert), $5 extra data[]
-- (jsonb merged into `data`, e.g. consecutive_failures), $6 now,
-- $7 tenant_id[] (each destination's tenant).
--
-- Inserts one operator event per row, its payload read from the tables in
-- the recorder's transaction (the attempt was written by the same
-- transaction). The destination projection leaves out credentials and
-- custom header values, which hold secrets too.
--
-- $8 tenant_id[], on Citus only: the tenants of the batch, all of one shard
-- group (the recorder splits its batches so). The /*citus: …*/ filters on
-- it are part of the statement only there (queries::routed), where they let
-- Citus route it to that group's node; on one node they are comments.
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::jsonb[], $7::text[])
        AS i(topic, destination_id, event_id, attempt_number, extra, tenant_id)
)
INSERT INTO outbound.operator_events (topic, time, tenant_id, data)
SELECT i.topic, $6::timestamptz, d.tenant_id,
       jsonb_build_object(
           'tenant_id', d.tenant_id,
           'event', (SELECT jsonb_build_object('id', e.id, 'topic', e.topic, 'time', e.time,
                                               'metadata', e.metadata, 'data', e.data::jsonb)
                     FROM outbound.events e
                     WHERE e.tenant_id = d.tenant_id AND e.id = i.event_id
                       /*citus: AND e.tenant_id = ANY ($8)*/ LIMIT 1),
           'attempt', (SELECT jsonb_build_object('id', a.id::text, 'tenant_id', a.tenant_id,
                                                 'event_id', a.event_id,
                                                 'destination_id', a.destination_id,
                                                 'status', a.status, 'code', a.code,
                                                 'response_status', a.response_status,
                                                 'attempt_number', a.attempt_number,
                                                 'manual', a.manual, 'time', a.time)
                       FROM outbound.attempts a
                       WHERE a.tenant_id = d.tenant_id AND a.event_id = i.event_id
                         AND a.destination_id = i.destination_id
                         AND a.attempt_number = i.attempt_number
                         /*citus: AND a.tenant_id = ANY ($8)*/
                       ORDER BY a.time DESC LIMIT 1),
           'destination', jsonb_build_object('id', d.id, 'tenant_id', d.tenant_id,
                                             'type', d.type, 'topics', to_jsonb(d.topics),
                                             'config', d.config - 'custom_headers',
                                             'created_at', d.created_at,
                                             'disabled_at', d.disabled_at)
       )
       || CASE WHEN i.topic = 'alert.destination.disabled'
               THEN jsonb_build_object('disabled_at', d.disabled_at,
                                       'reason', d.disabled_reason)
               ELSE '{}'::jsonb END
       || i.extra
FROM input i
JOIN outbound.destinations d ON d.tenant_id = i.tenant_id AND d.id = i.destination_id
                             /*citus: AND d.tenant_id = ANY ($8)*/
