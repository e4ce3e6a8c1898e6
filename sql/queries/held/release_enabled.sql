-- held/release_enabled: $1 most rows per destination, $2 now; on Citus only,
-- $3 tenant_id[]: one shard group's tenants (the /*citus: …*/ filters,
-- part of the statement only there: queries::routed).
--
-- The safety net behind enabling: held deliveries of destinations that are
-- enabled (or deleted) go back to the queue, due now. Enabling through the
-- API releases them itself; this catches a destination enabled with plain
-- SQL, a publish that committed held rows just after the destination was
-- enabled (its fan-out still saw it disabled), and an enable whose release
-- was cut short. The destinations with held rows are found by a skip scan
-- of deliveries_held, one index probe each, at most 1,000 per run.
WITH RECURSIVE held_destinations (tenant_id, id, n) AS (
    (SELECT tenant_id, destination_id, 1 FROM outbound.deliveries
     WHERE state = 'held' /*citus: AND tenant_id = ANY ($3)*/
     ORDER BY tenant_id, destination_id LIMIT 1)
    UNION ALL
    SELECT x.tenant_id, x.destination_id, h.n + 1
    FROM held_destinations h
    CROSS JOIN LATERAL (
        SELECT d.tenant_id, d.destination_id FROM outbound.deliveries d
        WHERE d.state = 'held' AND (d.tenant_id, d.destination_id) > (h.tenant_id, h.id)
          /*citus: AND d.tenant_id = ANY ($3)*/
        ORDER BY d.tenant_id, d.destination_id LIMIT 1) x
    WHERE h.n < 1000
), enabled AS (
    -- A scalar subquery, one primary-key lookup per destination: NOT
    -- EXISTS was planned as a walk of every destination.
    SELECT h.tenant_id, h.id FROM held_destinations h
    WHERE coalesce((SELECT x.disabled_at IS NULL FROM outbound.destinations x
                    WHERE x.tenant_id = h.tenant_id AND x.id = h.id
                      /*citus: AND x.tenant_id = ANY ($3)*/), true)
), batch AS (
    SELECT q.tid
    FROM enabled e
    CROSS JOIN LATERAL (
        SELECT d.ctid AS tid FROM outbound.deliveries d
        WHERE d.tenant_id = e.tenant_id AND d.destination_id = e.id AND d.state = 'held'
          /*citus: AND d.tenant_id = ANY ($3)*/
        ORDER BY d.event_time
        LIMIT $1
        FOR UPDATE SKIP LOCKED) q
), released AS (
    UPDATE outbound.deliveries d
    -- An ordered destination's go back to be sequenced (V26).
    SET state = CASE WHEN d.lane IS NULL THEN 'pending' ELSE 'queued' END::outbound.delivery_state,
        lease_owner = NULL, next_attempt_at = $2::timestamptz
    WHERE d.ctid = ANY (ARRAY(SELECT tid FROM batch)) /*citus: AND d.tenant_id = ANY ($3)*/
    RETURNING 1
)
SELECT count(*) FROM released
