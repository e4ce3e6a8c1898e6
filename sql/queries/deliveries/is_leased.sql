-- deliveries/is_leased: $1 event_id, $2 destination_id.
-- Whether a send of this delivery is in flight.
SELECT 1 FROM outbound.deliveries
WHERE event_id = $1 AND destination_id = $2 AND state = 'leased'
