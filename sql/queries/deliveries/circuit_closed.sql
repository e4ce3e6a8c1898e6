-- deliveries/circuit_closed: $1 destination_id[], $2 now, $3 tenant_id[]
-- (each destination's tenant).
--
-- These destinations answer again: their circuit was open and a probe's
-- answer has just closed it. What waits to be retried for them is due now,
-- not at retry times spread over the next minutes, so the backlog of an
-- outage follows within seconds of the destination's return. (What came
-- due while the circuit was open is parked, and comes back with the next
-- claim on its own.)
--
-- Rows are found per destination through deliveries_retrying (the LATERAL
-- keeps the lookup by destination; a join was planned as a walk of the
-- whole index). SKIP LOCKED: this runs in a recorder's transaction, which
-- holds the destination's row, while another recorder may hold some of
-- these deliveries (just recorded) and wait for that same destination row;
-- waiting here would deadlock the two. A row skipped keeps its retry time.
--
-- $4 tenant_id[], on Citus only: the tenants of the batch, all of one shard
-- group (the recorder splits its batches so). The /*citus: …*/ filters on
-- it are part of the statement only there (queries::routed), where they let
-- Citus route it to that group's node; on one node they are comments.
UPDATE outbound.deliveries d
SET next_attempt_at = $2::timestamptz
WHERE d.ctid = ANY (ARRAY(
    SELECT r.tid
    FROM unnest($1::text[], $3::text[]) AS i(id, tenant_id)
    CROSS JOIN LATERAL (
        SELECT x.ctid AS tid FROM outbound.deliveries x
        WHERE x.tenant_id = i.tenant_id AND x.destination_id = i.id AND x.state = 'pending' AND x.attempts > 0
          AND x.next_attempt_at > $2::timestamptz
          /*citus: AND x.tenant_id = ANY ($4)*/
        FOR UPDATE SKIP LOCKED) r))
  /*citus: AND d.tenant_id = ANY ($4)*/
