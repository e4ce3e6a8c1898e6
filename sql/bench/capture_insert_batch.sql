-- bench/capture_insert_batch: $1 notes[]. A multi-row insert, one row per note.
INSERT INTO public.bench_orders (tenant_id, status, total, note)
SELECT 'bench', 'paid', 12.50, n FROM unnest($1::text[]) AS n
