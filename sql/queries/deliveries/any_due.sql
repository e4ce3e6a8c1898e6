-- deliveries/any_due: whether any delivery is due now, from the claim's
-- own index (a single probe). What a worker asks after it has declared
-- itself idle, and when it looks again while asleep: far cheaper than a
-- claim that finds nothing. Parked rows are not asked for: they come back
-- through a claim, which a sleeping worker makes at least every poll
-- interval, and at once when a send of theirs ends in this process.
SELECT EXISTS (
    SELECT 1 FROM outbound.deliveries
    WHERE state IN ('pending', 'leased') AND next_attempt_at <= now()
)
