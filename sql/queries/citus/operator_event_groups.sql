-- citus/operator_event_groups: no parameters. Needs the citus extension.
-- The tenants with operator events due, by shard group: the sender claims
-- each group's with one statement Citus routes to its node (the outbox's
-- claim locks rows, which Citus does only within one shard group).
SELECT get_shard_id_for_distribution_column('outbound.tenants', tenant_id) AS shard,
       array_agg(DISTINCT tenant_id) AS tenants
FROM outbound.operator_events
WHERE next_attempt_at <= now()
GROUP BY 1
ORDER BY 1
