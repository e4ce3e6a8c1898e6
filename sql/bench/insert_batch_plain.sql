-- bench/insert_batch_plain: $1 data[] (json text). A multi-row insert into the control table.
INSERT INTO public.plain_events (tenant_id, topic, data)
SELECT 'bench', 'bench.event', d::json FROM unnest($1::text[]) AS d
