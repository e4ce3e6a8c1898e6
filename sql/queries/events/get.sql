-- events/get: $1 event id.
-- One event (event_ids gives its partition) and the destinations it was routed to.
SELECT e.id, e.tenant_id, e.topic, e.time, e.metadata, e.data::text AS data,
       e.eligible_for_retry,
       ARRAY(SELECT x.destination_id
             FROM (SELECT a.destination_id FROM outbound.attempts a WHERE a.event_id = e.id
                   UNION
                   SELECT d.destination_id FROM outbound.deliveries d WHERE d.event_id = e.id) x
             ORDER BY 1) AS matched_destination_ids
FROM outbound.event_ids k
JOIN outbound.events e ON e.id = k.id AND e.time = k.time
WHERE k.id = $1
