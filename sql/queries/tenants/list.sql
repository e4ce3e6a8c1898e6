-- tenants/list: $1 ids filter (text[] or null), $2 descending (bool),
-- $3 cursor created_at (null = from the start), $4 cursor id, $5 limit.
-- Keyset pagination on (created_at, id) in the direction asked; served by
-- the primary key and tenants_created.
SELECT t.id, t.metadata, t.created_at, t.updated_at,
       (SELECT count(*) FROM outbound.destinations d WHERE d.tenant_id = t.id) AS destinations_count,
       coalesce((SELECT array_agg(DISTINCT topic ORDER BY topic)
                 FROM outbound.destinations d, unnest(d.topics) AS topic
                 WHERE d.tenant_id = t.id), ARRAY[]::text[]) AS topics
FROM outbound.tenants t
WHERE ($1::text[] IS NULL OR t.id = ANY ($1))
  AND ($3::timestamptz IS NULL
       OR ($2 AND (t.created_at, t.id) < ($3, $4))
       OR (NOT $2 AND (t.created_at, t.id) > ($3, $4)))
ORDER BY CASE WHEN $2 THEN t.created_at END DESC, CASE WHEN $2 THEN t.id END DESC,
         CASE WHEN NOT $2 THEN t.created_at END ASC, CASE WHEN NOT $2 THEN t.id END ASC
LIMIT $5
