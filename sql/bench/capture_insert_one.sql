-- bench/capture_insert_one: $1 note. One row, as an application inserts it.
INSERT INTO public.bench_orders (tenant_id, status, total, note) VALUES ('bench', 'paid', 12.50, $1)
