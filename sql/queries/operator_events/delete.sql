-- operator_events/delete: $1 id[], $2 worker id, $3 tenant_id[] (the
-- tenants of those events).
--
-- Removes the operator events of one round that the sink accepted (or
-- that were given up on), those this worker still holds a lease on. The
-- ids are uuids, unique across tenants: matching each list with ANY (and
-- not pair by pair) removes the same rows, and on Citus stays a plain
-- modification pruned to the tenants' shards.
DELETE FROM outbound.operator_events
WHERE tenant_id = ANY ($3::text[]) AND id = ANY ($1::text[]) AND lease_owner = $2
