-- bench/rate_limit: $1 deliveries per second. The one destination in play
-- (d_topic) gets that rate limit and a full bucket.
UPDATE outbound.destinations
SET delivery_policy = jsonb_build_object('rate_limit', jsonb_build_object('per_second', $1::int)),
    rate_tokens = NULL, rate_at = NULL
WHERE id = 'd_topic'
