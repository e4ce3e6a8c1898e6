-- bench/isolation_publish: $1 event id, $2 tenant. One small event, as an
-- application's own INSERT would publish it.
INSERT INTO outbound.events (id, tenant_id, topic, data)
VALUES ($1, $2, 'order.created', '{"amount": 1}')
