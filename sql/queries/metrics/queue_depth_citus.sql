-- metrics/queue_depth_citus: $1 now, $2 the most rows counted per index.
--
-- metrics/queue_depth for a queue distributed by Citus, which refuses that
-- statement's recursive skip scan of the parked deliveries (it cannot be
-- routed to one shard): here the oldest parked delivery is a plain min()
-- over every shard's parked rows. The same columns, the same counts.
WITH head AS (
    SELECT state, next_attempt_at
    FROM outbound.deliveries
    WHERE state IN ('pending', 'leased')
    ORDER BY next_attempt_at
    LIMIT $2
), parked_oldest AS (
    SELECT min(next_attempt_at) AS at FROM outbound.deliveries WHERE state = 'parked'
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
