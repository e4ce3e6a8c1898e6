-- bench/capture_row_level_on: the row-level prototype on the bench table
-- instead (run as a script).
CREATE TRIGGER bench_capture_row AFTER INSERT ON public.bench_orders
    FOR EACH ROW EXECUTE FUNCTION public.bench_capture_row();
