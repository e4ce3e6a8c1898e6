-- operator_events/delete: $1 id, $2 worker id, $3 tenant id.
--
-- Removes an operator event the sink accepted (or that was given up on),
-- if this worker still holds its lease.
DELETE FROM outbound.operator_events WHERE tenant_id = $3 AND id = $1 AND lease_owner = $2
