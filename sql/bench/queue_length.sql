-- bench/queue_length: deliveries waiting (or in flight).
SELECT count(*) FROM outbound.deliveries
