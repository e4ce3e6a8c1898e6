-- bench/tenant_insert_with_id: $1 event id, $2 tenant, $3 data (latency probes).
INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ($1, $2, 'bench.event', $3::text::json)
