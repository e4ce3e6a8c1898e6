-- deliveries/release: $1 worker id.
-- On shutdown, leases of sends that did not finish in the grace period are
-- given back so another worker retries them now rather than at lease expiry.
UPDATE outbound.deliveries
SET state = 'pending', lease_owner = NULL, next_attempt_at = now()
WHERE lease_owner = $1 AND state = 'leased'
