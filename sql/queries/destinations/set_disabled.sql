-- destinations/set_disabled: $1 destination id, $2 tenant id, $3 disabled (bool), $4 now.
--
-- Disabling holds the destination's pending and parked deliveries (and the
-- fan-out holds what is published for it from now on); enabling resets the
-- failure streak and the circuit breaker. What was held is then released
-- or discarded by the caller (held/release.sql, held/discard.sql). One
-- statement, so the destination and its queue never disagree.
WITH d AS (
    UPDATE outbound.destinations
    SET disabled_at = CASE WHEN $3 THEN coalesce(disabled_at, $4::timestamptz) ELSE NULL END,
        disabled_reason = CASE WHEN $3 THEN coalesce(disabled_reason, 'manual') ELSE NULL END,
        consecutive_failures = CASE WHEN $3 THEN consecutive_failures ELSE 0 END,
        failing_since = CASE WHEN $3 THEN failing_since END,
        last_failure_at = CASE WHEN $3 THEN last_failure_at END,
        circuit_failures = CASE WHEN $3 THEN circuit_failures ELSE 0 END,
        circuit_open_until = CASE WHEN $3 THEN circuit_open_until END,
        circuit_opens = CASE WHEN $3 THEN circuit_opens ELSE 0 END,
        updated_at = $4::timestamptz
    WHERE id = $1 AND tenant_id = $2
    RETURNING id, disabled_at
), q AS (
    UPDATE outbound.deliveries
    SET state = 'held'
    -- (Disabled now, not `$3`: a constant false here makes Citus prune
    -- the table away and then send it unrouted to the shard's node.)
    WHERE tenant_id = $2
      AND destination_id IN (SELECT id FROM d WHERE disabled_at IS NOT NULL)
      AND state IN ('pending', 'parked')
)
SELECT id, disabled_at FROM d
