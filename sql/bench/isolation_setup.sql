-- bench/isolation_setup: $1 the noisy endpoint's URL, $2 the quiet one's.
-- Two tenants with one webhook destination each, for every topic.
WITH tenants AS (
    INSERT INTO outbound.tenants (id) VALUES ('noisy'), ('quiet')
)
INSERT INTO outbound.destinations (id, tenant_id, type, topics, config, credentials) VALUES
    ('noisy_hook', 'noisy', 'webhook', '{*}', jsonb_build_object('url', $1::text),
     '{"secret":"whsec_bench"}'),
    ('quiet_hook', 'quiet', 'webhook', '{*}', jsonb_build_object('url', $2::text),
     '{"secret":"whsec_bench"}')
