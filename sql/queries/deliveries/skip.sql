-- deliveries/skip: $1 event_id, $2 destination_id, $3 tenant_id.
-- Gives up a blocked delivery (V26: it failed for the last time in a lane
-- of an ordered destination that blocks): its row goes, and with it the
-- lane's block (the trigger deliveries_free_lane frees the lane; the next
-- sequencing pass sends the lane's next delivery). Returns the row if there
-- was one to skip.
DELETE FROM outbound.deliveries
WHERE tenant_id = $3 AND event_id = $1 AND destination_id = $2 AND state = 'blocked'
RETURNING event_id
