-- bench/outbox_length: operator events not yet at their sink.
SELECT count(*) FROM outbound.operator_events
