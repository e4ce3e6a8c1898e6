-- metrics/queue_depth: $1 now, $2 the most rows counted per index.
--
-- The queue as `GET /metrics` shows it, read at scrape time from the two
-- partial indexes the claim itself uses, never from the whole table:
--   deliveries_claim (next_attempt_at) WHERE state IN ('pending', 'leased')
--   deliveries_parked (destination_id, next_attempt_at) WHERE state = 'parked'
-- and the held deliveries' index, deliveries_held (destination_id,
-- event_time) WHERE state = 'held'. Parked deliveries are due (their
-- destination is at its cap), so they are queued like due pending ones;
-- held ones wait for their destination to be enabled.
--
-- The counts walk the claim index in its own order and stop after $2 rows:
-- the due rows come first, so a count is exact up to $2 and reads $2 beyond
-- it. The oldest parked row is found per destination (a skip scan of
-- deliveries_parked, as the claim does), one probe per destination.
WITH RECURSIVE head AS (
    SELECT state, next_attempt_at
    FROM outbound.deliveries
    WHERE state IN ('pending', 'leased')
    ORDER BY next_attempt_at
    LIMIT $2
), parked_destinations (tenant_id, id, n) AS (
    (SELECT tenant_id, destination_id, 1 FROM outbound.deliveries
     WHERE state = 'parked' ORDER BY tenant_id, destination_id LIMIT 1)
    UNION ALL
    SELECT x.tenant_id, x.destination_id, p.n + 1
    FROM parked_destinations p
    CROSS JOIN LATERAL (
        SELECT d.tenant_id, d.destination_id FROM outbound.deliveries d
        WHERE d.state = 'parked' AND (d.tenant_id, d.destination_id) > (p.tenant_id, p.id)
        ORDER BY d.tenant_id, d.destination_id LIMIT 1) x
    WHERE p.n < 1000
), parked_oldest AS (
    SELECT min((SELECT d.next_attempt_at FROM outbound.deliveries d
                WHERE d.state = 'parked' AND d.tenant_id = p.tenant_id
                  AND d.destination_id = p.id
                ORDER BY d.next_attempt_at LIMIT 1)) AS at
    FROM parked_destinations p
), t AS (
    SELECT $1::timestamptz AS now
)
SELECT
    -- pending and due now
    (SELECT count(*) FROM head, t WHERE state = 'pending' AND next_attempt_at <= t.now) AS due,
    -- leased by a worker that did not record in time: due again
    (SELECT count(*) FROM head, t WHERE state = 'leased' AND next_attempt_at <= t.now) AS lease_expired,
    -- being sent now (the lease runs)
    (SELECT count(*) FROM head, t WHERE state = 'leased' AND next_attempt_at > t.now) AS leased,
    -- waiting for a retry's time
    (SELECT count(*) FROM head, t WHERE state = 'pending' AND next_attempt_at > t.now) AS scheduled,
    (SELECT count(*) FROM (SELECT 1 FROM outbound.deliveries
                           WHERE state = 'parked' LIMIT $2) p) AS parked,
    -- kept for disabled destinations
    (SELECT count(*) FROM (SELECT 1 FROM outbound.deliveries
                           WHERE state = 'held' LIMIT $2) h) AS held,
    -- the oldest delivery that is due and not being sent, parked or not
    (SELECT least((SELECT min(next_attempt_at) FROM head, t WHERE next_attempt_at <= t.now),
                  (SELECT at FROM parked_oldest))) AS oldest_due,
    (SELECT now FROM t) AS now
