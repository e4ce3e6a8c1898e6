-- events/get: $1 event id, $2 tenant ids it may belong to (null = any).
-- Ids are unique per tenant: when two tenants used one id, the newest event.
-- One event (event_ids gives its partition) and the destinations it was routed to.
SELECT e.id, e.tenant_id, e.topic, e.time, e.metadata, e.data::text AS data,
       e.eligible_for_retry,
       ARRAY(SELECT x.destination_id
             FROM (SELECT a.destination_id FROM outbound.attempts a
                   WHERE a.tenant_id = e.tenant_id AND a.event_id = e.id
                   UNION
                   SELECT d.destination_id FROM outbound.deliveries d
                   WHERE d.tenant_id = e.tenant_id AND d.event_id = e.id) x
             ORDER BY 1) AS matched_destination_ids
FROM outbound.event_ids k
JOIN outbound.events e ON e.tenant_id = k.tenant_id AND e.id = k.id AND e.time = k.time
WHERE k.id = $1 AND ($2::text[] IS NULL OR k.tenant_id = ANY ($2))
ORDER BY e.time DESC
LIMIT 1
