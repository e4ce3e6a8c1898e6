-- A destination's own delivery policy (issue 25): its retries, their
-- schedule and its per-attempt timeout, over the deployment's settings.
-- The API checks it against the operator's bounds; a worker reads it with
-- each claim (deliveries/claim.sql). '{}' follows the deployment in
-- everything, which is what every destination did before.
ALTER TABLE outbound.destinations
    ADD COLUMN delivery_policy jsonb NOT NULL DEFAULT '{}'::jsonb;

ALTER TABLE outbound.destinations
    ADD CONSTRAINT destinations_delivery_policy_object
    CHECK (jsonb_typeof(delivery_policy) = 'object');
