-- deliveries/blocked: $1 tenant id, $2 destination id.
-- The destination's blocked deliveries (V26: each holds its lane of an
-- ordered destination until it is retried or skipped), first in line first,
-- at most 100, with their event's topic.
SELECT d.event_id, d.lane, d.attempts, d.event_time, e.topic
FROM outbound.deliveries d
LEFT JOIN outbound.events e
       ON e.tenant_id = d.tenant_id AND e.id = d.event_id AND e.time = d.event_time
WHERE d.tenant_id = $1 AND d.destination_id = $2 AND d.state = 'blocked'
ORDER BY d.position
LIMIT 100
