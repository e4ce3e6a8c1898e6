-- bench/ordering: $1 the policy (jsonb) of the one destination in play
-- (d_topic): '{}' for none, or an ordering.
UPDATE outbound.destinations SET delivery_policy = $1::jsonb WHERE id = 'd_topic'
