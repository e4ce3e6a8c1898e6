-- tenants/upsert: $1 id, $2 metadata (jsonb or null).
-- Creates or updates a tenant; `created` tells which (xmax = 0 only for a
-- freshly inserted row).
INSERT INTO outbound.tenants AS t (id, metadata, updated_at)
VALUES ($1, $2, now())
ON CONFLICT (id) DO UPDATE SET metadata = excluded.metadata, updated_at = excluded.updated_at
RETURNING t.id, t.metadata, t.created_at, t.updated_at, (t.xmax = 0) AS created
