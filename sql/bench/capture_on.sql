-- bench/capture_on: capture the bench table's inserts (run as a script).
SELECT outbound.capture('public.bench_orders', 'order.created');
