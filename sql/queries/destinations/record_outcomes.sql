-- destinations/record_outcomes: $1 destination_id[], $2 reset[] (a success
-- was in the batch), $3 failures[] (failures after the last success, or all
-- of them), $4 auto-disable threshold (0 = never), $5 now (null = now()),
-- $6 answered[] (an attempt in the batch got an answer, any answer),
-- $7 unanswered[] (attempts that got none — timeout, refused or reset
-- connection, DNS, TLS — after the last answer, or all of them),
-- $8 circuit breaker threshold (0 = no breaker), $9 its cool-down in ms.
--
-- Keeps each destination's consecutive-failure count and disables it when
-- the count reaches the threshold. Keeps the circuit breaker: after $8
-- unanswered attempts in a row the circuit opens for the cool-down, which
-- doubles with each opening without an answer in between (at most 16×);
-- once it has passed, the claim lets one probe through (half-open), and
-- its answer closes the circuit or its silence opens it again.
-- A healthy destination whose batch was all successes is not written at
-- all: these rows are shared by every worker.
-- Returns every destination written, with whether this statement disabled
-- it and whether it opened its circuit.
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bool[], $3::int[], $6::bool[], $7::int[])
        AS i(id, reset, failures, answered, unanswered)
), counted AS (
    -- FOR UPDATE waits for another worker's recorder that updates the same
    -- destination first, and then reads the row as it left it: the counts
    -- below add to *its* counts.
    SELECT i.id, i.reset, i.failures, i.answered, i.unanswered,
           old.disabled_at AS was_disabled_at, old.consecutive_failures AS old_failures,
           old.circuit_failures AS old_unanswered, old.circuit_open_until, old.circuit_opens
    FROM input i
    JOIN outbound.destinations old ON old.id = i.id
    WHERE NOT (i.reset AND i.failures = 0 AND old.consecutive_failures = 0
               AND i.unanswered = 0 AND old.circuit_failures = 0)
    -- Rows shared with another worker's recorder are locked in id order
    -- by both, so the two cannot deadlock.
    ORDER BY i.id
    FOR UPDATE OF old
), next AS (
    SELECT c.id, c.was_disabled_at, c.circuit_opens,
           CASE WHEN c.reset THEN c.failures ELSE c.old_failures + c.failures END AS failures,
           CASE WHEN c.answered THEN c.unanswered
                ELSE c.old_unanswered + c.unanswered END AS unanswered,
           c.unanswered > 0 AND $8 > 0
               AND coalesce(c.circuit_open_until <= coalesce($5, now()), true) AS may_open
    FROM counted c
), updated AS (
    UPDATE outbound.destinations d
    SET consecutive_failures = n.failures,
        disabled_at = CASE
            WHEN d.disabled_at IS NULL AND $4 > 0 AND n.failures >= $4
            THEN coalesce($5, now())
            ELSE d.disabled_at
        END,
        disabled_reason = CASE
            WHEN d.disabled_at IS NULL AND $4 > 0 AND n.failures >= $4
            THEN 'consecutive_failures'
            ELSE d.disabled_reason
        END,
        circuit_failures = n.unanswered,
        circuit_open_until = CASE
            WHEN n.may_open AND n.unanswered >= $8
            THEN coalesce($5, now())
                 + ($9::bigint << least(n.circuit_opens, 4)) * interval '1 millisecond'
            WHEN n.unanswered < greatest($8, 1) THEN NULL
            ELSE d.circuit_open_until
        END,
        circuit_opens = CASE
            WHEN n.may_open AND n.unanswered >= $8 THEN n.circuit_opens + 1
            WHEN n.unanswered < greatest($8, 1) THEN 0
            ELSE d.circuit_opens
        END
    FROM next n
    WHERE d.id = n.id
    RETURNING d.id, d.tenant_id, d.consecutive_failures, d.disabled_at, n.was_disabled_at,
              d.circuit_open_until, d.circuit_failures,
              (n.may_open AND n.unanswered >= $8) AS circuit_opened
)
SELECT id, tenant_id, consecutive_failures, disabled_at IS NOT NULL AS disabled,
       (was_disabled_at IS NULL AND disabled_at IS NOT NULL) AS newly_disabled,
       circuit_opened, circuit_open_until, circuit_failures
FROM updated
