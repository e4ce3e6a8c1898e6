-- deliveries/retry_now: $1 event_id, $2 destination_id, $3 last attempt number, $4 now,
-- $5 tenant_id.
--
-- A manual retry: the next attempt (number $3 + 1, manual) is due now. It
-- replaces a pending automatic retry; a delivery being sent right now is
-- left alone (its outcome is on its way). Returns the attempt number that
-- will be made, or no row when a send is already in flight. A delivery a
-- replay queued (V28) is the person's own from then on: a cancel of the
-- replay leaves it alone.
INSERT INTO outbound.deliveries
    (event_id, destination_id, tenant_id, event_time, attempts, next_attempt_at, manual, retry)
SELECT e.id, $2, e.tenant_id, e.time, $3, $4::timestamptz, true, e.eligible_for_retry
FROM outbound.events e
WHERE e.tenant_id = $5 AND e.id = $1
ON CONFLICT (tenant_id, event_id, destination_id) DO UPDATE
SET next_attempt_at = excluded.next_attempt_at, manual = true, state = 'pending',
    attempts = excluded.attempts, replay_id = NULL
WHERE outbound.deliveries.state NOT IN ('leased', 'queued', 'waiting')
RETURNING attempts + 1
