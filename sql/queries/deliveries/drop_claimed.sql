-- deliveries/drop_claimed: $1 event_id[], $2 destination_id[], $3 claims[], $4 tenant_id[].
-- Claimed deliveries whose event expired or whose destination was deleted
-- can never be sent: remove them. Only the latest claim of each does.
--
-- $5 tenant_id[]: on Citus, the tenants of the batch, all of one shard group
-- (the recorder splits its batches so); null on a single node. Every table
-- is filtered on it, so that Citus routes the statement to that group's node
-- (run as queries::routed rewrites it).
DELETE FROM outbound.deliveries d
USING unnest($1::text[], $2::text[], $3::int[], $4::text[])
    AS i(event_id, destination_id, claims, tenant_id)
WHERE d.tenant_id = i.tenant_id AND d.event_id = i.event_id AND d.destination_id = i.destination_id
  AND d.claims = i.claims AND d.state = 'leased'
  AND ($5::text[] IS NULL OR d.tenant_id = ANY ($5))
