-- tenants/count: $1 ids filter (text[] or null).
SELECT count(*) FROM outbound.tenants WHERE $1::text[] IS NULL OR id = ANY ($1)
