-- destinations/record_outcomes: per destination of a recorded batch, as parallel arrays:
-- $1 destination_id[], $2 reset[] (a success was in the batch),
-- $3 failures[] (failures counted after the last success, or all of them;
--    failures known within $12 of the previous counted one are not counted),
-- $10 first_failure_at[] / $11 last_failure_at[] (when the first and the last
--    of those counted failures were known; null without one),
-- $6 answered[] (an attempt in the batch got an answer, any answer),
-- $7 unanswered[] (attempts that got none — timeout, refused or reset
--    connection, DNS, TLS — after the last answer, or all of them);
-- and the rules: $4 auto-disable threshold (0 = never), $13 the least time,
-- in ms, a failure streak must have lasted to disable, $12 the spacing of
-- counted failures in ms, $8 circuit breaker threshold (0 = no breaker),
-- $9 its first cool-down in ms (doubled per reopening, at most 8×); $5 now;
-- $14 tenant_id[] (each destination's tenant).
--
-- The failure streak. A destination is failing from its first failure
-- after a success (`failing_since`). Failures known within $12 of the last
-- counted one (`last_failure_at`) were in flight together, and count as
-- one: fifty messages refused at once when a broker stops are one failure,
-- not fifty. A destination is disabled when its streak has reached $4
-- counted failures *and* has lasted $13 — a destination that stays down,
-- never a burst.
--
-- The circuit breaker: after $8 unanswered attempts in a row the circuit
-- opens for the cool-down, which doubles with each opening without an
-- answer in between (at most 8×); while it is open the claim sends
-- nothing to the destination, once it has passed the claim lets one probe
-- through (half-open), and its answer closes the circuit or its silence
-- opens it again.
--
-- A healthy destination whose batch was all successes is not written at
-- all: these rows are shared by every worker.
-- Returns every destination written: its count before and after this
-- batch, whether this statement disabled it, whether it opened or closed
-- its circuit.
--
-- $15 tenant_id[], on Citus only: the tenants of the batch, all of one shard
-- group (the recorder splits its batches so). The /*citus: …*/ filters on
-- it are part of the statement only there (queries::routed), where they let
-- Citus route it to that group's node; on one node they are comments.
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bool[], $3::int[], $6::bool[], $7::int[],
                         $10::timestamptz[], $11::timestamptz[], $14::text[])
        AS i(id, reset, failures, answered, unanswered, first_failure_at, last_failure_at,
             tenant_id)
), counted AS (
    -- FOR UPDATE waits for another worker's recorder that updates the same
    -- destination first, and then reads the row as it left it: the counts
    -- below add to *its* counts.
    SELECT i.*,
           old.disabled_at AS was_disabled_at, old.consecutive_failures AS old_failures,
           old.failing_since AS old_failing_since, old.last_failure_at AS old_last_failure_at,
           old.circuit_failures AS old_unanswered, old.circuit_open_until, old.circuit_opens
    FROM input i
    JOIN outbound.destinations old ON old.tenant_id = i.tenant_id AND old.id = i.id
                                  /*citus: AND old.tenant_id = ANY ($15)*/
    WHERE NOT (i.reset AND i.failures = 0 AND old.consecutive_failures = 0
               AND i.unanswered = 0 AND old.circuit_failures = 0)
    -- Rows shared with another worker's recorder are locked in key order
    -- by both, so the two cannot deadlock.
    ORDER BY i.tenant_id, i.id
    FOR UPDATE OF old
), streak AS (
    SELECT c.*,
           CASE WHEN c.reset THEN 0 ELSE c.old_failures END AS before,
           -- The batch's first failure, when it came within the spacing of
           -- the last one counted, belongs to that one.
           c.failures - CASE
               WHEN NOT c.reset AND c.failures > 0
                    AND c.first_failure_at < c.old_last_failure_at + $12::bigint * interval '1 millisecond'
               THEN 1 ELSE 0 END AS added
    FROM counted c
), next AS (
    SELECT s.tenant_id, s.id, s.was_disabled_at, s.circuit_opens, s.before,
           s.circuit_open_until IS NOT NULL AS was_open,
           s.before + s.added AS failures,
           CASE WHEN s.before + s.added = 0 THEN NULL
                WHEN s.before = 0 THEN s.first_failure_at
                ELSE coalesce(s.old_failing_since, s.first_failure_at) END AS failing_since,
           CASE WHEN s.before + s.added = 0 THEN NULL
                WHEN s.added > 0 THEN s.last_failure_at
                ELSE s.old_last_failure_at END AS last_failure_at,
           CASE WHEN s.answered THEN s.unanswered
                ELSE s.old_unanswered + s.unanswered END AS unanswered,
           s.unanswered > 0 AND $8 > 0
               AND coalesce(s.circuit_open_until <= $5::timestamptz, true) AS may_open
    FROM streak s
), judged AS (
    SELECT n.*,
           $4 > 0 AND n.failures >= $4
               AND n.last_failure_at - n.failing_since >= $13::bigint * interval '1 millisecond'
               AS disable,
           -- (computed here, not in the UPDATE: Citus refuses a time sum,
           -- which depends on the time zone, in an UPDATE's CASE)
           $5::timestamptz + ($9::bigint << least(n.circuit_opens, 3)) * interval '1 millisecond'
               AS open_until
    FROM next n
), updated AS (
    UPDATE outbound.destinations d
    SET consecutive_failures = j.failures,
        failing_since = j.failing_since,
        last_failure_at = j.last_failure_at,
        disabled_at = CASE
            WHEN d.disabled_at IS NULL AND j.disable THEN $5::timestamptz
            ELSE d.disabled_at
        END,
        disabled_reason = CASE
            WHEN d.disabled_at IS NULL AND j.disable THEN 'consecutive_failures'
            ELSE d.disabled_reason
        END,
        circuit_failures = j.unanswered,
        circuit_open_until = CASE
            WHEN j.may_open AND j.unanswered >= $8 THEN j.open_until
            WHEN j.unanswered < greatest($8, 1) THEN NULL
            ELSE d.circuit_open_until
        END,
        circuit_opens = CASE
            WHEN j.may_open AND j.unanswered >= $8 THEN j.circuit_opens + 1
            WHEN j.unanswered < greatest($8, 1) THEN 0
            ELSE d.circuit_opens
        END
    FROM judged j
    WHERE d.tenant_id = j.tenant_id AND d.id = j.id /*citus: AND d.tenant_id = ANY ($15)*/
    RETURNING d.id, d.tenant_id, d.consecutive_failures, j.before, d.disabled_at, j.was_disabled_at,
              d.circuit_open_until, d.circuit_failures,
              (j.may_open AND j.unanswered >= $8) AS circuit_opened,
              (j.was_open AND d.circuit_open_until IS NULL) AS circuit_closed
)
SELECT id, tenant_id, consecutive_failures, before AS previous_failures,
       disabled_at IS NOT NULL AS disabled,
       (was_disabled_at IS NULL AND disabled_at IS NOT NULL) AS newly_disabled,
       circuit_opened, circuit_closed, circuit_open_until, circuit_failures
FROM updated
