-- bench/tenant_insert_batch: $1 tenant, $2 data[]. Many events of one tenant in one statement.
INSERT INTO outbound.events (tenant_id, topic, data)
SELECT $1, 'bench.event', d::json FROM unnest($2::text[]) AS d
