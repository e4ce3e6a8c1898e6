-- deliveries/hold_claimed: $1 event_id[], $2 destination_id[], $3 claims[], $4 tenant_id[].
-- Claimed deliveries whose destination turned out to be disabled go back
-- to wait, unsent. Only the latest claim of each moves it. A destination
-- enabled again since the claim saw it disabled gets its delivery back
-- due now, not held (enabling released the held rows it could see, and
-- this one was leased then).
--
-- Every table is also filtered on `tenant_id = ANY ($4)`: on Citus, where a
-- batch holds one shard group's deliveries (the recorder splits them), that
-- lets Citus route the statement to the group's node; elsewhere it changes nothing.
UPDATE outbound.deliveries d
SET state = CASE WHEN EXISTS (SELECT 1 FROM outbound.destinations x
                              WHERE x.tenant_id = d.tenant_id AND x.id = d.destination_id AND x.disabled_at IS NOT NULL
                                AND x.tenant_id = ANY ($4))
                 THEN 'held' ELSE 'pending' END::outbound.delivery_state,
    lease_owner = NULL,
    next_attempt_at = now()
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[])
    AS i(event_id, destination_id, claims, tenant_id)
WHERE d.tenant_id = i.tenant_id AND d.event_id = i.event_id AND d.destination_id = i.destination_id
  AND d.claims = i.claims AND d.state = 'leased'
  AND d.tenant_id = ANY ($4)
