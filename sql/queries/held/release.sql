-- held/release: $1 destination id, $2 most rows, $3 now, $4 tenant id.
--
-- Releases up to $2 of an enabled destination's held deliveries (those
-- kept for it while it was disabled), oldest event first: each is due
-- now, a microsecond after the one before, so the claim takes them in
-- that order and through the usual fair caps. Nothing is released while
-- the destination is disabled. Returns how many were released: fewer than
-- $2 means none is left.
WITH batch AS (
    SELECT ctid AS tid, event_time
    FROM outbound.deliveries
    WHERE tenant_id = $4 AND destination_id = $1 AND state = 'held'
      AND NOT EXISTS (SELECT 1 FROM outbound.destinations x
                      WHERE x.tenant_id = $4 AND x.id = $1 AND x.disabled_at IS NOT NULL)
    ORDER BY event_time
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), ranked AS (
    -- (the times are computed here, not in the UPDATE: Citus refuses a time
    -- sum over a column there)
    SELECT tid,
           $3::timestamptz + row_number() OVER (ORDER BY event_time) * interval '1 microsecond'
               AS due
    FROM batch
), released AS (
    UPDATE outbound.deliveries d
    -- An ordered destination's go back to be sequenced (V26).
    SET state = CASE WHEN d.lane IS NULL THEN 'pending' ELSE 'queued' END::outbound.delivery_state,
        lease_owner = NULL, next_attempt_at = r.due
    FROM ranked r
    WHERE d.ctid = r.tid AND d.tenant_id = $4
    RETURNING 1
)
SELECT count(*) FROM released
