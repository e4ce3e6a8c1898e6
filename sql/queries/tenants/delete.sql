-- tenants/delete: $1 id.
-- Removes the tenant; its destinations go with it (FK cascade) and its
-- queued deliveries are dropped so nothing more is sent. Its events and
-- attempts stay in the log until retention drops them.
WITH gone AS (
    DELETE FROM outbound.tenants WHERE id = $1 RETURNING id
), queue AS (
    DELETE FROM outbound.deliveries WHERE tenant_id IN (SELECT id FROM gone)
)
SELECT id FROM gone
