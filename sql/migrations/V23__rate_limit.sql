-- A destination's rate limit (issue 25): `delivery_policy.rate_limit`,
-- {"per_second": n} or {"per_minute": n}, and an optional "burst". The
-- claim (deliveries/claim.sql) keeps each rate-limited destination's token
-- bucket here, so the limit holds across every worker process: the tokens
-- left after the last claim that took some, and when that was. NULL until
-- the first claim (a full bucket).
ALTER TABLE outbound.destinations
    ADD COLUMN rate_tokens double precision,
    ADD COLUMN rate_at timestamptz;

-- What the claim casts must be numbers: a rate limit written by hand in SQL
-- that is not is refused here, instead of failing every claim. Each cast
-- is guarded by its CASE (AND and OR do not order their operands).
ALTER TABLE outbound.destinations
    ADD CONSTRAINT destinations_rate_limit_valid CHECK (
        CASE
            WHEN NOT delivery_policy ? 'rate_limit' THEN true
            WHEN jsonb_typeof(delivery_policy -> 'rate_limit') <> 'object' THEN false
            ELSE (CASE jsonb_typeof(delivery_policy #> '{rate_limit,per_second}')
                      WHEN 'number' THEN (delivery_policy #>> '{rate_limit,per_second}')::float8 > 0
                      ELSE false
                  END
                  OR CASE jsonb_typeof(delivery_policy #> '{rate_limit,per_minute}')
                      WHEN 'number' THEN (delivery_policy #>> '{rate_limit,per_minute}')::float8 > 0
                      ELSE false
                  END)
                 AND CASE jsonb_typeof(delivery_policy #> '{rate_limit,burst}')
                      WHEN 'number' THEN (delivery_policy #>> '{rate_limit,burst}')::float8 >= 1
                      ELSE delivery_policy #> '{rate_limit,burst}' IS NULL
                 END
        END
    );
