-- bench/capture_deliveries_per_row: how many deliveries the phase made per
-- row of the bench table (0 without capture).
SELECT (SELECT count(*) FROM outbound.deliveries)::float8
       / greatest((SELECT count(*) FROM public.bench_orders), 1)
