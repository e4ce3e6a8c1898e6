-- bench/senders_backlog: $1 events. A backlog of small events for tenant
-- `bench`, in one statement (the fan-out queues one delivery each).
INSERT INTO outbound.events (tenant_id, topic, data)
SELECT 'bench', 'order.created', json_build_object('n', g, 'amount', 42)
FROM generate_series(1, $1::int) g
