-- destinations/count: $1 tenant id.
SELECT count(*) FROM outbound.destinations WHERE tenant_id = $1
