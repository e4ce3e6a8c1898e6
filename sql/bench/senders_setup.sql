-- bench/senders_setup: $1 type, $2 config, $3 credentials. Tenant `bench`
-- and its one destination, for every topic.
WITH tenant AS (
    INSERT INTO outbound.tenants (id) VALUES ('bench')
)
INSERT INTO outbound.destinations (id, tenant_id, type, topics, config, credentials)
VALUES ('bench_dest', 'bench', $1, '{*}', $2, $3)
