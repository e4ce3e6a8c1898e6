-- citus/due_tenants: no parameters.
-- The tenants with deliveries due (pending, expired leases, or parked), at
-- most 1,000. On Citus it runs on every shard at once: the workers' wake-up
-- there, where the fan-out cannot NOTIFY (see store::citus). No parameter:
-- Citus cannot plan a multi-shard statement with one ahead of its values.
SELECT DISTINCT tenant_id
FROM outbound.deliveries
WHERE state IN ('pending', 'leased', 'parked') AND next_attempt_at <= now()
LIMIT 1000
