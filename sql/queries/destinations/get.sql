-- destinations/get: $1 id, $2 tenant id.
SELECT id, tenant_id, type, topics, filter, config, credentials, delivery_metadata, metadata,
       disabled_at, disabled_reason, consecutive_failures, created_at, updated_at
FROM outbound.destinations
WHERE id = $1 AND tenant_id = $2
