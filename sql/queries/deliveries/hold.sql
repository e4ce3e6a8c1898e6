-- deliveries/hold: $1 destination_id[], $2 tenant_id[] (each destination's tenant).
-- Pending and parked deliveries of those destinations that are disabled wait (state
-- held) instead of being claimed; enabling the destination releases them.
-- An ordered destination's queued and waiting ones too (V26): what was
-- held is then delivered, or discarded, as a whole.
--
-- $3 tenant_id[], on Citus only: the tenants of the batch, all of one shard
-- group (the recorder splits its batches so). The /*citus: …*/ filters on
-- it are part of the statement only there (queries::routed), where they let
-- Citus route it to that group's node; on one node they are comments.
UPDATE outbound.deliveries q
SET state = 'held', lease_owner = NULL
FROM unnest($1::text[], $2::text[]) AS i(id, tenant_id)
JOIN outbound.destinations d ON d.tenant_id = i.tenant_id AND d.id = i.id
WHERE d.disabled_at IS NOT NULL
  AND q.tenant_id = d.tenant_id AND q.destination_id = d.id
  AND q.state IN ('pending', 'parked', 'queued', 'waiting')
  /*citus: AND q.tenant_id = ANY ($3)*/ /*citus: AND d.tenant_id = ANY ($3)*/
