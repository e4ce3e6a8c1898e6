-- deliveries/drop_claimed: $1 event_id[], $2 destination_id[], $3 claims[], $4 tenant_id[].
-- Claimed deliveries whose event expired or whose destination was deleted
-- can never be sent: remove them. Only the latest claim of each does.
--
-- $5 tenant_id[], on Citus only: the tenants of the batch, all of one shard
-- group (the recorder splits its batches so). The /*citus: …*/ filters on
-- it are part of the statement only there (queries::routed), where they let
-- Citus route it to that group's node; on one node they are comments.
DELETE FROM outbound.deliveries d
USING unnest($1::text[], $2::text[], $3::int[], $4::text[])
    AS i(event_id, destination_id, claims, tenant_id)
WHERE d.tenant_id = i.tenant_id AND d.event_id = i.event_id AND d.destination_id = i.destination_id
  AND d.claims = i.claims AND d.state = 'leased'
  /*citus: AND d.tenant_id = ANY ($5)*/
