-- destinations/delete: $1 id, $2 tenant id.
-- Removes the destination and its queued deliveries (nothing more is sent);
-- its attempts stay in the log until retention drops them.
WITH gone AS (
    DELETE FROM outbound.destinations WHERE id = $1 AND tenant_id = $2 RETURNING id
), queue AS (
    DELETE FROM outbound.deliveries
    WHERE tenant_id = $2 AND destination_id IN (SELECT id FROM gone)
)
SELECT id FROM gone
