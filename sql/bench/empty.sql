-- bench/empty: back to no events, deliveries or attempts between phases.
-- TRUNCATE fires no row trigger: the lanes of ordered delivery (V26) go
-- with the deliveries, or a lane would wait for a head that is gone.
TRUNCATE outbound.deliveries, outbound.lanes, outbound.events, outbound.event_ids, outbound.attempts
