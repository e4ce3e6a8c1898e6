-- deliveries/is_leased: $1 event_id, $2 destination_id, $3 tenant_id.
-- Whether a send of this delivery is in flight.
SELECT 1 FROM outbound.deliveries
WHERE tenant_id = $3 AND event_id = $1 AND destination_id = $2 AND state = 'leased'
