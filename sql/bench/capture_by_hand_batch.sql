-- bench/capture_by_hand_batch: $1 notes[]. The rows and their events
-- written by the application itself, in one statement.
WITH o AS (
    INSERT INTO public.bench_orders (tenant_id, status, total, note)
    SELECT 'bench', 'paid', 12.50, n FROM unnest($1::text[]) AS n
    RETURNING *
)
INSERT INTO outbound.events (tenant_id, topic, data)
SELECT o.tenant_id, 'order.created', json_build_object('new', row_to_json(o)) FROM o
