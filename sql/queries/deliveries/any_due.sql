-- deliveries/any_due: whether any delivery is due now, from the claim's
-- own index (a single probe). What a worker asks after it has declared
-- itself idle, and when it looks again while asleep: far cheaper than a
-- claim that finds nothing. Parked rows are not asked for: they come back
-- through a claim, which a sleeping worker makes at least every poll
-- interval, and at once when a send of theirs ends in this process.
-- Ordered delivery's (V26): a lane that became free, or deliveries not yet
-- sequenced, need a claim too (its sequencing pass moves them on).
SELECT EXISTS (
    SELECT 1 FROM outbound.deliveries
    WHERE state IN ('pending', 'leased') AND next_attempt_at <= now()
) OR EXISTS (
    SELECT 1 FROM outbound.lanes WHERE head IS NULL
) OR EXISTS (
    SELECT 1 FROM outbound.deliveries WHERE state = 'queued'
)
