-- operator_events/attempts: attempt.success / attempt.failed, one per
-- attempt, as parallel arrays: $1 tenant_id[], $2 event_id[],
-- $3 destination_id[], $4 attempt_number[], $5 attempted_at[] (the
-- attempt's `time`), $6 event_time[], $7 now (the operator events' time).
--
-- Run by the recorder in its transaction, after it wrote the attempts and
-- updated their destinations, only when OPERATOR_EVENTS_TOPICS asks for
-- these topics (the recorder passes only the attempts whose topic is on):
-- an attempt and its operator event commit together. Off, the recorder's
-- statements are those it runs without these topics.
--
-- One statement per batch, set-based. Each attempt is found by its
-- delivery, number and time (the partition key, so one partition is
-- probed), its event by its key and time, its destination by its key, as
-- it is after this batch (disabled by it, if it was). The payload is Outpost's
-- AttemptData: tenant_id, event, attempt (with destination_type and
-- response_data), destination (the alerts' projection: no credentials, no
-- custom header values).
--
-- $8 tenant_id[], on Citus only: the tenants of the batch, all of one shard
-- group (the recorder splits its batches so). The /*citus: …*/ filters on
-- it are part of the statement only there (queries::routed), where they let
-- Citus route it to that group's node; on one node they are comments.
WITH input AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[],
                $6::timestamptz[])
        AS i(tenant_id, event_id, destination_id, attempt_number, attempted_at, event_time)
)
INSERT INTO outbound.operator_events (topic, time, tenant_id, data)
SELECT CASE a.status WHEN 'success' THEN 'attempt.success' ELSE 'attempt.failed' END,
       $7::timestamptz, a.tenant_id,
       jsonb_build_object(
           'tenant_id', a.tenant_id,
           'event', coalesce(
               (SELECT jsonb_build_object('id', e.id, 'tenant_id', e.tenant_id,
                                          'destination_id', coalesce(e.destination_id, ''),
                                          'topic', e.topic,
                                          'eligible_for_retry', e.eligible_for_retry,
                                          'time', e.time, 'metadata', e.metadata,
                                          'data', e.data::jsonb)
                FROM outbound.events e
                WHERE e.tenant_id = i.tenant_id AND e.id = i.event_id AND e.time = i.event_time
                  /*citus: AND e.tenant_id = ANY ($8)*/),
               -- (an event gone meanwhile: what the attempt knows of it)
               jsonb_build_object('id', i.event_id, 'tenant_id', i.tenant_id,
                                  'time', i.event_time)),
           'attempt', jsonb_build_object(
               'id', a.id::text, 'tenant_id', a.tenant_id, 'event_id', a.event_id,
               'destination_id', a.destination_id, 'destination_type', d.type,
               'attempt_number', a.attempt_number, 'manual', a.manual,
               'status', a.status, 'time', a.time, 'code', a.code,
               'response_data',
               CASE WHEN a.response_status IS NOT NULL
                    THEN jsonb_build_object('status', a.response_status, 'body', a.response_body)
                    -- no answer (a network failure, a queue's refusal):
                    -- the error class and what went wrong in words
                    ELSE jsonb_build_object('error', a.code, 'message', a.response_body) END),
           'destination', jsonb_build_object('id', d.id, 'tenant_id', d.tenant_id,
                                             'type', d.type, 'topics', to_jsonb(d.topics),
                                             'config', d.config - 'custom_headers',
                                             'created_at', d.created_at,
                                             'disabled_at', d.disabled_at))
FROM input i
-- Looked up row by row from the input (LIMIT keeps each a parameterized
-- index probe, never a join that scans a tenant's attempts or every
-- destination, whatever the statistics say), the attempt in the one
-- partition its time names (pruned as the probe runs).
CROSS JOIN LATERAL (
    SELECT * FROM outbound.attempts a
    WHERE a.tenant_id = i.tenant_id AND a.event_id = i.event_id
      AND a.destination_id = i.destination_id AND a.attempt_number = i.attempt_number
      AND a.time = i.attempted_at
      /*citus: AND a.tenant_id = ANY ($8)*/
    LIMIT 1) a
CROSS JOIN LATERAL (
    SELECT * FROM outbound.destinations d
    WHERE d.tenant_id = i.tenant_id AND d.id = i.destination_id
      /*citus: AND d.tenant_id = ANY ($8)*/
    LIMIT 1) d
