-- deliveries/drop_claimed: $1 event_id, $2 destination_id, $3 claims.
-- A claimed delivery whose event expired or whose destination was deleted
-- can never be sent: remove it.
DELETE FROM outbound.deliveries
WHERE event_id = $1 AND destination_id = $2 AND claims = $3 AND state = 'leased'
