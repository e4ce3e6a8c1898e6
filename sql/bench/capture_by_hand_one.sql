-- bench/capture_by_hand_one: $1 note. The row and its event written by the
-- application itself, in one statement: what capture() saves it writing.
WITH o AS (
    INSERT INTO public.bench_orders (tenant_id, status, total, note) VALUES ('bench', 'paid', 12.50, $1)
    RETURNING *
)
INSERT INTO outbound.events (tenant_id, topic, data)
SELECT o.tenant_id, 'order.created', json_build_object('new', row_to_json(o)) FROM o
