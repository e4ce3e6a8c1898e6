-- held/discard: $1 destination id, $2 most rows, $3 now, $4 tenant id.
--
-- Ends up to $2 of a destination's held deliveries unsent, oldest event
-- first, because the tenant chose to discard what waited while it was
-- disabled. Each gets a last attempt in the log saying so (status
-- 'failed', code 'discarded'), in this statement, so none ends without a
-- trace. Returns how many: fewer than $2 means none is left. An ordered
-- destination's deliveries waiting in its lanes (V26) waited too, and go
-- with the held ones.
WITH batch AS (
    SELECT ctid AS tid
    FROM outbound.deliveries
    WHERE tenant_id = $4 AND destination_id = $1 AND state IN ('held', 'waiting', 'queued')
    ORDER BY event_time
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM outbound.deliveries d
    WHERE d.ctid = ANY (ARRAY(SELECT tid FROM batch)) AND d.tenant_id = $4
    RETURNING tenant_id, event_id, event_time, destination_id, attempts
), logged AS (
    INSERT INTO outbound.attempts (tenant_id, event_id, event_time, destination_id,
                                   attempt_number, manual, status, code, response_body,
                                   duration_ms, time)
    SELECT tenant_id, event_id, event_time, destination_id, attempts + 1, false,
           'failed', 'discarded',
           'not sent: held while the destination was disabled, and discarded when it was enabled',
           0, $3::timestamptz
    FROM gone
    RETURNING 1
)
SELECT count(*) FROM logged
