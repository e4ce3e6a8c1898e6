-- bench/capture_off: no trigger on the bench table, and nothing in it or
-- in outbound's tables (run as a script, between phases).
SELECT outbound.uncapture('public.bench_orders', missing_ok => true);
DROP TRIGGER IF EXISTS bench_capture_row ON public.bench_orders;
TRUNCATE public.bench_orders, outbound.deliveries, outbound.events, outbound.event_ids, outbound.attempts;
