-- deliveries/hold: $1 destination_id[], $2 tenant_id[] (each destination's tenant).
-- Pending and parked deliveries of those destinations that are disabled wait (state
-- held) instead of being claimed; enabling the destination releases them.
--
-- Every table is also filtered on `tenant_id = ANY ($2)`: on Citus, where a
-- batch holds one shard group's deliveries (the recorder splits them), that
-- lets Citus route the statement to the group's node; elsewhere it changes nothing.
UPDATE outbound.deliveries q
SET state = 'held', lease_owner = NULL
FROM unnest($1::text[], $2::text[]) AS i(id, tenant_id)
JOIN outbound.destinations d ON d.tenant_id = i.tenant_id AND d.id = i.id
WHERE d.disabled_at IS NOT NULL
  AND q.tenant_id = d.tenant_id AND q.destination_id = d.id
  AND q.state IN ('pending', 'parked')
  AND q.tenant_id = ANY ($2) AND d.tenant_id = ANY ($2)
