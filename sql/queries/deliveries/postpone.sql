-- deliveries/postpone: $1 event_id[], $2 destination_id[], $3 claims[], $4 until[], $5 tenant_id[].
--
-- Claimed deliveries not sent because their worker learned that the
-- destination's circuit opened after the claim (delivery::circuits): they
-- go back to wait, unsent and without using up an attempt, until the
-- circuit's cool-down ends. Then the claim lets one through as the probe
-- and parks the rest until the probe's answer closes the circuit. Only the
-- latest claim of each moves it.
--
-- $6 tenant_id[], on Citus only: the tenants of the batch, all of one shard
-- group (the recorder splits its batches so). The /*citus: …*/ filters on
-- it are part of the statement only there (queries::routed), where they let
-- Citus route it to that group's node; on one node they are comments.
UPDATE outbound.deliveries d
SET state = 'pending', lease_owner = NULL, next_attempt_at = i.until
FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::text[])
    AS i(event_id, destination_id, claims, until, tenant_id)
WHERE d.tenant_id = i.tenant_id AND d.event_id = i.event_id AND d.destination_id = i.destination_id
  AND d.claims = i.claims AND d.state = 'leased'
  /*citus: AND d.tenant_id = ANY ($6)*/
