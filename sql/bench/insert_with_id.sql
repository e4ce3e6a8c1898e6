-- bench/insert_with_id: $1 id, $2 data (json text). An event whose arrival
-- the latency phases time by its id.
INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ($1, 'bench', 'bench.event', $2::text::json)
