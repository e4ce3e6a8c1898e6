-- destinations/get_for_retry: $1 destination id.
-- What a manual retry needs to know about the destination.
SELECT tenant_id, disabled_at FROM outbound.destinations WHERE id = $1
