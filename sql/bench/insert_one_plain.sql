-- bench/insert_one_plain: $1 data (json text). One row into the control table.
INSERT INTO public.plain_events (tenant_id, topic, data) VALUES ('bench', 'bench.event', $1::text::json)
