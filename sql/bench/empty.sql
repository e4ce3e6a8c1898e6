-- bench/empty: back to no events, deliveries or attempts between phases.
TRUNCATE outbound.deliveries, outbound.events, outbound.event_ids, outbound.attempts
