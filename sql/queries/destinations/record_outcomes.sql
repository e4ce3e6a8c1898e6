-- destinations/record_outcomes: $1 destination_id[], $2 reset[] (a success
-- was in the batch), $3 failures[] (failures after the last success, or all
-- of them), $4 auto-disable threshold (0 = never), $5 now (null = now()).
--
-- Keeps each destination's consecutive-failure count and disables it when
-- the count reaches the threshold. A healthy destination whose batch was all
-- successes is not written at all: these rows are shared by every worker.
-- Returns every destination written, with whether this statement disabled it.
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bool[], $3::int[]) AS i(id, reset, failures)
), counted AS (
    SELECT i.id, i.reset, i.failures, old.disabled_at AS was_disabled_at
    FROM input i
    JOIN outbound.destinations old ON old.id = i.id
    WHERE NOT (i.reset AND i.failures = 0 AND old.consecutive_failures = 0)
    -- Rows shared with another worker's recorder are locked in id order
    -- by both, so the two cannot deadlock.
    ORDER BY i.id
    FOR UPDATE OF old
), updated AS (
    -- The new count is computed from the row being updated, not from the
    -- snapshot above: when another worker's recorder updates the same
    -- destination first, this UPDATE waits and then adds to *its* count.
    UPDATE outbound.destinations d
    SET consecutive_failures = CASE WHEN c.reset THEN c.failures
                                    ELSE d.consecutive_failures + c.failures END,
        disabled_at = CASE
            WHEN d.disabled_at IS NULL AND $4 > 0
                 AND CASE WHEN c.reset THEN c.failures
                          ELSE d.consecutive_failures + c.failures END >= $4
            THEN coalesce($5, now())
            ELSE d.disabled_at
        END,
        disabled_reason = CASE
            WHEN d.disabled_at IS NULL AND $4 > 0
                 AND CASE WHEN c.reset THEN c.failures
                          ELSE d.consecutive_failures + c.failures END >= $4
            THEN 'consecutive_failures'
            ELSE d.disabled_reason
        END
    FROM counted c
    WHERE d.id = c.id
    RETURNING d.id, d.tenant_id, d.consecutive_failures, d.disabled_at, c.was_disabled_at
)
SELECT id, tenant_id, consecutive_failures, disabled_at IS NOT NULL AS disabled,
       (was_disabled_at IS NULL AND disabled_at IS NOT NULL) AS newly_disabled
FROM updated
