-- bench/deliveries_per_event: how many deliveries the fan-out made per event.
SELECT (SELECT count(*) FROM outbound.deliveries)::float8
       / greatest((SELECT count(*) FROM outbound.events), 1)
