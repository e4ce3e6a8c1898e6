-- deliveries/hold_claimed: $1 event_id[], $2 destination_id[], $3 claims[], $4 tenant_id[].
-- Claimed deliveries whose destination turned out to be disabled go back
-- to wait, unsent. Only the latest claim of each moves it. A destination
-- enabled again since the claim saw it disabled gets its delivery back
-- due now, not held (enabling released the held rows it could see, and
-- this one was leased then).
--
-- $5 tenant_id[], on Citus only: the tenants of the batch, all of one shard
-- group (the recorder splits its batches so). The /*citus: …*/ filters on
-- it are part of the statement only there (queries::routed), where they let
-- Citus route it to that group's node; on one node they are comments.
UPDATE outbound.deliveries d
SET state = CASE WHEN EXISTS (SELECT 1 FROM outbound.destinations x
                              WHERE x.tenant_id = d.tenant_id AND x.id = d.destination_id AND x.disabled_at IS NOT NULL
                                /*citus: AND x.tenant_id = ANY ($5)*/)
                 THEN 'held' ELSE 'pending' END::outbound.delivery_state,
    lease_owner = NULL,
    next_attempt_at = now()
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[])
    AS i(event_id, destination_id, claims, tenant_id)
WHERE d.tenant_id = i.tenant_id AND d.event_id = i.event_id AND d.destination_id = i.destination_id
  AND d.claims = i.claims AND d.state = 'leased'
  /*citus: AND d.tenant_id = ANY ($5)*/
