-- bench/insert_batch: $1 data[] (json text). A multi-row insert of events,
-- fanned out in one statement-level trigger run.
INSERT INTO outbound.events (tenant_id, topic, data)
SELECT 'bench', 'bench.event', d::json FROM unnest($1::text[]) AS d
