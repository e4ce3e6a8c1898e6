-- deliveries/drop_claimed: $1 event_id[], $2 destination_id[], $3 claims[], $4 tenant_id[].
-- Claimed deliveries whose event expired or whose destination was deleted
-- can never be sent: remove them. Only the latest claim of each does.
--
-- Every table is also filtered on `tenant_id = ANY ($4)`: on Citus, where a
-- batch holds one shard group's deliveries (the recorder splits them), that
-- lets Citus route the statement to the group's node; elsewhere it changes nothing.
DELETE FROM outbound.deliveries d
USING unnest($1::text[], $2::text[], $3::int[], $4::text[])
    AS i(event_id, destination_id, claims, tenant_id)
WHERE d.tenant_id = i.tenant_id AND d.event_id = i.event_id AND d.destination_id = i.destination_id
  AND d.claims = i.claims AND d.state = 'leased'
  AND d.tenant_id = ANY ($4)
