-- operator_events/reschedule: $1 id, $2 worker id, $3 next attempt at,
-- $4 what went wrong, $5 tenant id.
--
-- Puts an operator event the sink refused back to wait for its retry, if
-- this worker still holds its lease.
UPDATE outbound.operator_events
SET next_attempt_at = $3, lease_owner = NULL, last_error = $4
WHERE tenant_id = $5 AND id = $1 AND lease_owner = $2
