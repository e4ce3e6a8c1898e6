-- destinations/count_owned: $1 tenant_id, $2 destination ids.
-- How many of the ids are destinations of that tenant (a tenant may filter
-- logs by its own destinations only).
SELECT count(*) FROM outbound.destinations WHERE tenant_id = $1 AND id = ANY ($2)
