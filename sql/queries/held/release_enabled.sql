-- held/release_enabled: $1 most rows per destination, $2 now (null = now()).
--
-- The safety net behind enabling: held deliveries of destinations that are
-- enabled (or deleted) go back to the queue, due now. Enabling through the
-- API releases them itself; this catches a destination enabled with plain
-- SQL, a publish that committed held rows just after the destination was
-- enabled (its fan-out still saw it disabled), and an enable whose release
-- was cut short. The destinations with held rows are found by a skip scan
-- of deliveries_held, one index probe each, at most 1,000 per run.
WITH RECURSIVE held_destinations (id, n) AS (
    (SELECT destination_id, 1 FROM outbound.deliveries
     WHERE state = 'held' ORDER BY destination_id LIMIT 1)
    UNION ALL
    SELECT (SELECT d.destination_id FROM outbound.deliveries d
            WHERE d.state = 'held' AND d.destination_id > h.id
            ORDER BY d.destination_id LIMIT 1),
           h.n + 1
    FROM held_destinations h
    WHERE h.id IS NOT NULL AND h.n < 1000
), enabled AS (
    -- A scalar subquery, one primary-key lookup per destination: NOT
    -- EXISTS was planned as a walk of every destination.
    SELECT h.id FROM held_destinations h
    WHERE h.id IS NOT NULL
      AND coalesce((SELECT x.disabled_at IS NULL FROM outbound.destinations x
                    WHERE x.id = h.id), true)
), batch AS (
    SELECT q.tid
    FROM enabled e
    CROSS JOIN LATERAL (
        SELECT d.ctid AS tid FROM outbound.deliveries d
        WHERE d.destination_id = e.id AND d.state = 'held'
        ORDER BY d.event_time
        LIMIT $1
        FOR UPDATE SKIP LOCKED) q
), released AS (
    UPDATE outbound.deliveries d
    SET state = 'pending', lease_owner = NULL, next_attempt_at = coalesce($2, now())
    WHERE d.ctid = ANY (ARRAY(SELECT tid FROM batch))
    RETURNING 1
)
SELECT count(*) FROM released
