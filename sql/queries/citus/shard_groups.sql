-- citus/shard_groups: no parameters. Needs the citus extension.
-- Every tenant with the shard of outbound.tenants it lives in. outbound's
-- distributed tables are co-located with outbound.tenants, so a tenant's
-- rows in all of them are in the same shard group, on the same node: a
-- statement restricted to one group's tenants is routed to that node and
-- runs there as on a single PostgreSQL.
SELECT get_shard_id_for_distribution_column('outbound.tenants', id) AS shard,
       array_agg(id ORDER BY id) AS tenants
FROM outbound.tenants
GROUP BY 1
ORDER BY 1
