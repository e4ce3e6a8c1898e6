-- deliveries/record: a batch of attempt outcomes, as parallel arrays:
-- $1 event_id[], $2 destination_id[], $3 claims[], $4 tenant_id[], $5 event_time[],
-- $6 attempt_number[], $7 manual[], $8 status[] ('success'|'failed'),
-- $9 next_attempt_at[] (null = the delivery is finished: delivered or exhausted),
-- $10 code[], $11 response_status[], $12 response_headers[] (json text),
-- $13 response_body[], $14 duration_ms[], $15 attempted_at[],
-- $16 blocked[]: the delivery failed for the last time and stays, blocking
-- its lane (an ordered destination that blocks after a failure, V26);
-- its next_attempt_at is then null.
--
-- Each outcome is accepted only from the holder of the latest claim (same
-- `claims`, still leased): a worker whose lease expired and was re-claimed
-- cannot overwrite the newer claim. Accepted outcomes remove the queue row
-- (finished) or reschedule it, and append the attempt to the log, all in
-- this one statement. Returns the accepted (event_id, destination_id, tenant_id).
--
-- $17 tenant_id[], on Citus only: the tenants of the batch, all of one shard
-- group (the recorder splits its batches so). The /*citus: …*/ filters on
-- it are part of the statement only there (queries::routed), where they let
-- Citus route it to that group's node; on one node they are comments.
WITH input AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::int[],
                $7::bool[], $8::text[], $9::timestamptz[], $10::text[], $11::int[], $12::text[],
                $13::text[], $14::int[], $15::timestamptz[], $16::bool[])
        AS i(event_id, destination_id, claims, tenant_id, event_time, attempt_number,
             manual, status, next_attempt_at, code, response_status, response_headers,
             response_body, duration_ms, attempted_at, blocked)
), finished AS (
    DELETE FROM outbound.deliveries d
    USING input i
    WHERE d.tenant_id = i.tenant_id AND d.event_id = i.event_id
      AND d.destination_id = i.destination_id
      AND d.claims = i.claims AND d.state = 'leased'
      AND i.next_attempt_at IS NULL AND NOT i.blocked
      /*citus: AND d.tenant_id = ANY ($17)*/
    RETURNING d.tenant_id, d.event_id, d.destination_id
), rescheduled AS (
    UPDATE outbound.deliveries d
    SET state = CASE WHEN i.blocked THEN 'blocked' ELSE 'pending' END::outbound.delivery_state,
        lease_owner = NULL, attempts = i.attempt_number,
        next_attempt_at = coalesce(i.next_attempt_at, d.next_attempt_at), manual = false
    FROM input i
    WHERE d.tenant_id = i.tenant_id AND d.event_id = i.event_id
      AND d.destination_id = i.destination_id
      AND d.claims = i.claims AND d.state = 'leased'
      AND (i.next_attempt_at IS NOT NULL OR i.blocked)
      /*citus: AND d.tenant_id = ANY ($17)*/
    RETURNING d.tenant_id, d.event_id, d.destination_id
), accepted AS (
    SELECT tenant_id, event_id, destination_id FROM finished
    UNION ALL
    SELECT tenant_id, event_id, destination_id FROM rescheduled
)
INSERT INTO outbound.attempts
    (tenant_id, event_id, event_time, destination_id, attempt_number, manual, status, code,
     response_status, response_headers, response_body, duration_ms, time)
SELECT i.tenant_id, i.event_id, i.event_time, i.destination_id, i.attempt_number, i.manual,
       i.status::outbound.attempt_status, i.code, i.response_status, i.response_headers::jsonb,
       i.response_body, i.duration_ms, i.attempted_at
FROM input i
JOIN accepted a ON a.tenant_id = i.tenant_id AND a.event_id = i.event_id
                AND a.destination_id = i.destination_id
RETURNING event_id, destination_id, tenant_id
