-- bench/tenant_insert_one: $1 tenant, $2 data. One event, one transaction.
INSERT INTO outbound.events (tenant_id, topic, data) VALUES ($1, 'bench.event', $2::text::json)
