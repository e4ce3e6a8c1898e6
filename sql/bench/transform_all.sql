-- bench/transform_all: $1 jq program. Every destination reshapes its body
-- with it (delivery_policy.transform.body), to measure what a
-- transformation costs a delivery.
UPDATE outbound.destinations
SET delivery_policy = jsonb_build_object('transform', jsonb_build_object('body', $1::text))
