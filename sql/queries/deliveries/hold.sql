-- deliveries/hold: $1 destination_id[].
-- Pending and parked deliveries of those destinations that are disabled wait (state
-- held) instead of being claimed; enabling the destination releases them.
UPDATE outbound.deliveries
SET state = 'held', lease_owner = NULL
WHERE destination_id = ANY ($1)
  AND state IN ('pending', 'parked')
  AND destination_id IN (SELECT id FROM outbound.destinations
                         WHERE id = ANY ($1) AND disabled_at IS NOT NULL)
