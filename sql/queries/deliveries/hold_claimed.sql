-- deliveries/hold_claimed: $1 event_id[], $2 destination_id[], $3 claims[].
-- Claimed deliveries whose destination turned out to be disabled go back
-- to wait, unsent. Only the latest claim of each moves it.
UPDATE outbound.deliveries d
SET state = 'held', lease_owner = NULL
FROM unnest($1::text[], $2::text[], $3::int[]) AS i(event_id, destination_id, claims)
WHERE d.event_id = i.event_id AND d.destination_id = i.destination_id
  AND d.claims = i.claims AND d.state = 'leased'
