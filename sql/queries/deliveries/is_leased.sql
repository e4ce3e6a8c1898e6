-- deliveries/is_leased: $1 event_id, $2 destination_id, $3 tenant_id.
-- Whether the delivery is already on its way: a send is in flight, or it
-- waits its turn in a lane of an ordered destination (V26).
SELECT 1 FROM outbound.deliveries
WHERE tenant_id = $3 AND event_id = $1 AND destination_id = $2
  AND state IN ('leased', 'queued', 'waiting')
