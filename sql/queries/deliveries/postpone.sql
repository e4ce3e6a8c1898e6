-- deliveries/postpone: $1 event_id[], $2 destination_id[], $3 claims[], $4 until[], $5 tenant_id[].
--
-- Claimed deliveries not sent because their worker learned that the
-- destination's circuit opened after the claim (delivery::circuits): they
-- go back to wait, unsent and without using up an attempt, until the
-- circuit's cool-down ends. Then the claim lets one through as the probe
-- and parks the rest until the probe's answer closes the circuit. Only the
-- latest claim of each moves it.
--
-- Every table is also filtered on `tenant_id = ANY ($5)`: on Citus, where a
-- batch holds one shard group's deliveries (the recorder splits them), that
-- lets Citus route the statement to the group's node; elsewhere it changes nothing.
UPDATE outbound.deliveries d
SET state = 'pending', lease_owner = NULL, next_attempt_at = i.until
FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::text[])
    AS i(event_id, destination_id, claims, until, tenant_id)
WHERE d.tenant_id = i.tenant_id AND d.event_id = i.event_id AND d.destination_id = i.destination_id
  AND d.claims = i.claims AND d.state = 'leased'
  AND d.tenant_id = ANY ($5)
