-- deliveries/hold_claimed: $1 event_id, $2 destination_id, $3 claims.
-- A claimed delivery whose destination turned out to be disabled goes back
-- to wait, unsent.
UPDATE outbound.deliveries
SET state = 'held', lease_owner = NULL
WHERE event_id = $1 AND destination_id = $2 AND claims = $3 AND state = 'leased'
