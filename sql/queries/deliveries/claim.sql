-- deliveries/claim: $1 now (null = now()), $2 batch size, $3 worker id, $4 lease in milliseconds,
-- $5 the most deliveries this worker may hold for a destination it knows nothing about,
-- $6 destination_id[], $7 held[], $8 cap[]: per destination this worker knows, how many
-- of its deliveries it holds (claimed, not yet recorded) and how many it may hold,
-- $9 circuit breaker threshold (0 = no breaker), $10 tenant_id[] of the destinations in $6,
-- and on Citus only $11 tenant_id[]: one shard group's tenants. The
-- /*citus: …*/ filters on it are part of the statement only there
-- (queries::routed, which also needs $1 given), where every table it reads
-- is filtered on them and Citus routes the whole statement to the node
-- holding those tenants; on one node they are comments.
--
-- Claims up to $2 due deliveries for one worker, and returns everything
-- needed to send them: the event (found in its partition by id and time)
-- and the destination. Rows locked by another claimer are skipped, not
-- waited for, so any number of workers can claim concurrently.
--
-- Fair between destinations. A destination gets at most its room (cap −
-- held) of a claim; a destination whose circuit is half-open gets one
-- probe at a time. Due deliveries over a destination's room are *parked*:
-- they leave the claim index, so a slow destination's backlog never stands
-- in front of anyone else's work, and nobody holds them waiting for a
-- slot. A destination whose circuit is open has no room at all. Parked
-- deliveries come back oldest first, straight from the parked
-- index, as soon as a claim finds room for their destination. The batch is
-- ordered round-robin (each destination's first, then each one's second…).
--
-- A rate-limited destination (delivery_policy.rate_limit, V23) also gets no
-- more of a claim than its token bucket holds. The bucket's row is locked
-- while the claim runs, so concurrent claims of any worker process take
-- from it one after another, and what the claim took is written back
-- (`spent`). Its rows over the limit park like any others and come back as
-- the bucket refills: they wait, they are never dropped.
--
-- A leased row's next_attempt_at is its lease expiry: if the worker dies,
-- the row simply becomes due again and another worker claims it. `claims`
-- counts claims, so only the latest claimer can record the outcome.
--
-- The statement commits on its own, before any network call: no
-- transaction or lock is held while sending.
WITH RECURSIVE known AS (
    SELECT * FROM unnest($10::text[], $6::text[], $7::int[], $8::int[])
        AS k(tenant_id, destination_id, held, cap)
), head AS (
    -- The oldest due rows, from the claim index.
    SELECT ctid AS tid, tenant_id, destination_id, next_attempt_at
    FROM outbound.deliveries
    WHERE state IN ('pending', 'leased')
      AND next_attempt_at <= coalesce($1, now())
      /*citus: AND tenant_id = ANY ($11)*/
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), parked_destinations (tenant_id, id, n) AS (
    -- The destinations with parked rows: a skip scan of deliveries_parked,
    -- one index probe per destination, at most 1,000 per claim.
    (SELECT tenant_id, destination_id, 1 FROM outbound.deliveries
     WHERE state = 'parked' /*citus: AND tenant_id = ANY ($11)*/
     ORDER BY tenant_id, destination_id LIMIT 1)
    UNION ALL
    SELECT x.tenant_id, x.destination_id, p.n + 1
    FROM parked_destinations p
    CROSS JOIN LATERAL (
        SELECT d.tenant_id, d.destination_id FROM outbound.deliveries d
        WHERE d.state = 'parked' AND (d.tenant_id, d.destination_id) > (p.tenant_id, p.id)
          /*citus: AND d.tenant_id = ANY ($11)*/
        ORDER BY d.tenant_id, d.destination_id LIMIT 1) x
    WHERE p.n < 1000
), room AS (
    -- Per destination in play: its cap less what this worker holds;
    -- nothing while its circuit is open (its due rows are parked, and wait
    -- for the circuit without using up attempts), one probe at a time once
    -- the cool-down has passed (half-open); and for a rate-limited one, no
    -- more than its bucket's whole tokens. The destination row is read by
    -- a LATERAL primary-key lookup per destination (`dst`): a plain join
    -- here was planned as a scan of every destination.
    SELECT ids.tenant_id, ids.id AS destination_id, lim.tokens,
           greatest(0, least(
               coalesce(CASE WHEN $9 > 0 THEN dst.circuit_room END, k.cap, $5)
                   - coalesce(k.held, 0),
               -- least() passes over the NULL of a destination without a limit.
               floor(lim.tokens)::int)) AS room
    FROM (SELECT tenant_id, destination_id AS id FROM head
          UNION
          SELECT tenant_id, id FROM parked_destinations
          ORDER BY 1, 2) ids
    LEFT JOIN known k ON k.tenant_id = ids.tenant_id AND k.destination_id = ids.id
    LEFT JOIN LATERAL (
        SELECT CASE
                   WHEN d.circuit_failures < $9 THEN NULL
                   WHEN d.circuit_open_until > coalesce($1, now()) THEN 0
                   ELSE 1
               END AS circuit_room,
               d.delivery_policy ? 'rate_limit' AS limited
        FROM outbound.destinations d
        WHERE d.tenant_id = ids.tenant_id AND d.id = ids.id
          /*citus: AND d.tenant_id = ANY ($11)*/
        -- Keeps it a lookup per destination: without it the subquery is
        -- pulled up into a join, planned as a walk of every destination.
        LIMIT 1
    ) dst ON true
    LEFT JOIN LATERAL (
        -- The token bucket of a rate-limited destination (and only of one:
        -- `dst.limited` gates the lookup): what was left, refilled at its
        -- rate since, up to its burst (V23's CHECK makes the casts safe).
        -- Read from the row once it is locked, in the order of ids, so two
        -- claims never wait for each other in a cycle.
        SELECT least(b.burst,
                     coalesce(d.rate_tokens, b.burst)
                     + b.per_second * greatest(0, extract(epoch FROM
                           coalesce($1, now()) - coalesce(d.rate_at, coalesce($1, now()))))::float8
               ) AS tokens
        FROM outbound.destinations d
        CROSS JOIN LATERAL (
            SELECT r.per_second,
                   coalesce((d.delivery_policy #>> '{rate_limit,burst}')::float8,
                            greatest(1, ceil(r.per_second))) AS burst
            FROM (SELECT coalesce((d.delivery_policy #>> '{rate_limit,per_second}')::float8,
                                  (d.delivery_policy #>> '{rate_limit,per_minute}')::float8 / 60)
                             AS per_second) r) b
        WHERE dst.limited
          AND d.tenant_id = ids.tenant_id AND d.id = ids.id
          AND d.delivery_policy ? 'rate_limit'
          /*citus: AND d.tenant_id = ANY ($11)*/
        FOR UPDATE OF d
    ) lim ON true
), unparked AS (
    -- Parked rows of destinations with room, oldest first.
    SELECT u.tid, r.tenant_id, r.destination_id, u.next_attempt_at,
           row_number() OVER (PARTITION BY r.tenant_id, r.destination_id
                              ORDER BY u.next_attempt_at) AS rank
    FROM room r
    CROSS JOIN LATERAL (
        SELECT d.ctid AS tid, d.next_attempt_at
        FROM outbound.deliveries d
        WHERE d.state = 'parked' AND d.tenant_id = r.tenant_id
          AND d.destination_id = r.destination_id
          /*citus: AND d.tenant_id = ANY ($11)*/
          AND d.next_attempt_at <= coalesce($1, now())
        ORDER BY d.next_attempt_at
        LIMIT r.room
        FOR UPDATE SKIP LOCKED) u
    WHERE r.room > 0
), ranked AS (
    -- The head's rows per destination, after what was unparked for it.
    SELECT h.tid, h.next_attempt_at,
           row_number() OVER (PARTITION BY h.tenant_id, h.destination_id
                              ORDER BY h.next_attempt_at)
               + coalesce((SELECT count(*) FROM unparked u
                           WHERE u.tenant_id = h.tenant_id
                             AND u.destination_id = h.destination_id), 0) AS rank,
           r.room
    FROM head h
    JOIN room r ON r.tenant_id = h.tenant_id AND r.destination_id = h.destination_id
), parked AS (
    UPDATE outbound.deliveries d
    SET state = 'parked', lease_owner = NULL
    WHERE d.ctid = ANY (ARRAY(SELECT tid FROM ranked WHERE rank > room))
      /*citus: AND d.tenant_id = ANY ($11)*/
)
, claimed AS (
    UPDATE outbound.deliveries d
    SET state = 'leased',
        lease_owner = $3,
        claims = d.claims + 1,
        next_attempt_at = coalesce($1, now()) + $4::bigint * interval '1 millisecond'
    -- The rows are found by ctid (a TID scan): joining on the key instead
    -- lets a generic plan hash the whole queue on every claim. The rows are
    -- locked by the subqueries, so their ctids cannot change before the UPDATE.
    -- Rows of the head left out by the batch size stay pending, unchanged.
    WHERE d.ctid = ANY (ARRAY(
        SELECT tid FROM (
            SELECT tid, rank, next_attempt_at FROM unparked
            UNION ALL
            SELECT tid, rank, next_attempt_at FROM ranked WHERE rank <= room
        ) chosen
        ORDER BY rank, next_attempt_at
        LIMIT $2))
      /*citus: AND d.tenant_id = ANY ($11)*/
    RETURNING d.event_id, d.destination_id, d.tenant_id, d.event_time, d.claims, d.attempts,
              d.retry, d.manual, d.lane IS NOT NULL AS ordered, d.retry_base
), spent AS (
    -- What this claim took from each rate-limited destination's bucket.
    UPDATE outbound.destinations d
    SET rate_tokens = r.tokens - t.n, rate_at = coalesce($1, now())
    FROM (SELECT tenant_id, destination_id, count(*) AS n FROM claimed GROUP BY 1, 2) t
    JOIN room r ON r.tenant_id = t.tenant_id AND r.destination_id = t.destination_id
    WHERE r.tokens IS NOT NULL
      AND d.tenant_id = t.tenant_id AND d.id = t.destination_id
      /*citus: AND d.tenant_id = ANY ($11)*/
)
SELECT c.event_id, c.destination_id, c.tenant_id, c.event_time, c.claims, c.attempts,
       c.retry, c.manual, c.ordered, c.retry_base,
       e.topic, e.metadata, e.data::text AS data,
       dst.type, dst.config, dst.credentials, dst.delivery_metadata, dst.disabled_at,
       dst.circuit_open_until, dst.delivery_policy,
       (e.id IS NOT NULL) AS event_found, (dst.id IS NOT NULL) AS destination_found
FROM claimed c
LEFT JOIN outbound.events e
       ON e.tenant_id = c.tenant_id AND e.id = c.event_id AND e.time = c.event_time
      /*citus: AND e.tenant_id = ANY ($11)*/
LEFT JOIN outbound.destinations dst ON dst.tenant_id = c.tenant_id AND dst.id = c.destination_id
      /*citus: AND dst.tenant_id = ANY ($11)*/
