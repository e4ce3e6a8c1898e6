-- bench/tenants_setup: $1 number of tenants, $2 the receiver's URL.
-- Tenants bench-1 … bench-$1, each with one signed webhook destination for
-- every topic (`outbound bench citus`: the work spread over tenants, as
-- Citus spreads it over its nodes).
WITH t AS (
    INSERT INTO outbound.tenants (id)
    SELECT 'bench-' || g FROM generate_series(1, $1::int) AS g
    RETURNING id
)
INSERT INTO outbound.destinations (id, tenant_id, type, topics, config, credentials)
SELECT 'd_1', id, 'webhook', '{*}', jsonb_build_object('url', $2::text),
       '{"secret":"whsec_bench"}'
FROM t
