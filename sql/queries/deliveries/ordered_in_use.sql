-- deliveries/ordered_in_use: no parameters. Whether a worker must run the
-- sequencing pass (deliveries/sequence.sql) before it claims: a destination
-- orders its deliveries, or ordered deliveries are still on their way (the
-- ordering was just turned off). Three index probes.
SELECT EXISTS (SELECT 1 FROM outbound.destinations WHERE delivery_policy ? 'ordering')
    OR EXISTS (SELECT 1 FROM outbound.lanes)
    OR EXISTS (SELECT 1 FROM outbound.deliveries WHERE state = 'queued') AS in_use
