-- operator_events/claim: $1 now, $2 limit, $3 worker id,
-- $4 lease in ms; on Citus only, $5 tenant_id[]: one shard group's tenants
-- (the /*citus: …*/ filter, part of the statement only there:
-- queries::routed).
--
-- Takes up to $2 due operator events, oldest first, and leases them: a
-- worker that dies holding one leaves it due again when the lease expires.
-- SKIP LOCKED lets several workers claim side by side without waiting on
-- each other's rows. `attempts` counts this try.
WITH due AS (
    SELECT tenant_id, id FROM outbound.operator_events
    WHERE next_attempt_at <= $1::timestamptz
      /*citus: AND tenant_id = ANY ($5)*/
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE outbound.operator_events o
SET lease_owner = $3,
    attempts = o.attempts + 1,
    next_attempt_at = $1::timestamptz + $4::bigint * interval '1 millisecond'
FROM due
WHERE o.tenant_id = due.tenant_id AND o.id = due.id
RETURNING o.id, o.topic, o.time, o.tenant_id, o.data, o.attempts
