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
    SELECT i.id, old.disabled_at AS was_disabled_at,
           CASE WHEN i.reset THEN i.failures ELSE old.consecutive_failures + i.failures END AS n
    FROM input i
    JOIN outbound.destinations old ON old.id = i.id
    WHERE NOT (i.reset AND i.failures = 0 AND old.consecutive_failures = 0)
)
UPDATE outbound.destinations d
SET consecutive_failures = c.n,
    disabled_at = CASE
        WHEN d.disabled_at IS NULL AND $4 > 0 AND c.n >= $4 THEN coalesce($5, now())
        ELSE d.disabled_at
    END
FROM counted c
WHERE d.id = c.id
RETURNING d.id, d.tenant_id, d.consecutive_failures, d.disabled_at IS NOT NULL AS disabled,
          (c.was_disabled_at IS NULL AND d.disabled_at IS NOT NULL) AS newly_disabled
