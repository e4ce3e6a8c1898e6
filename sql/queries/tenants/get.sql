-- tenants/get: $1 id.
-- A tenant with its destination count and the union of its destinations' topics.
SELECT t.id, t.metadata, t.created_at, t.updated_at,
       (SELECT count(*) FROM outbound.destinations d WHERE d.tenant_id = t.id) AS destinations_count,
       coalesce((SELECT array_agg(DISTINCT topic ORDER BY topic)
                 FROM outbound.destinations d, unnest(d.topics) AS topic
                 WHERE d.tenant_id = t.id), ARRAY[]::text[]) AS topics
FROM outbound.tenants t
WHERE t.id = $1
