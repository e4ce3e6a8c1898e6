-- destinations/get_for_retry: $1 destination id, $2 tenant id.
-- What a manual retry needs to know about the destination.
SELECT tenant_id, disabled_at FROM outbound.destinations WHERE tenant_id = $2 AND id = $1
