-- deliveries/circuit_closed: $1 destination_id[], $2 now (null = now()).
--
-- These destinations answer again: their circuit was open and a probe's
-- answer has just closed it. What waits to be retried for them is due now,
-- not at retry times spread over the next minutes, so the backlog of an
-- outage follows within seconds of the destination's return. (What came
-- due while the circuit was open is parked, and comes back with the next
-- claim on its own.) Found through deliveries_retrying.
UPDATE outbound.deliveries d
SET next_attempt_at = coalesce($2, now())
WHERE d.destination_id = ANY ($1)
  AND d.state = 'pending' AND d.attempts > 0
  AND d.next_attempt_at > coalesce($2, now())
