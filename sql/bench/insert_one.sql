-- bench/insert_one: $1 data (json text). One event, as an application publishes.
INSERT INTO outbound.events (tenant_id, topic, data) VALUES ('bench', 'bench.event', $1::text::json)
