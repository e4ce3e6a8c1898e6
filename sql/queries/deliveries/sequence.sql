-- deliveries/sequence: $1 the most newly published deliveries to move on.
-- The sequencing pass of ordered delivery (V26): makes the next delivery of
-- each free lane pending, and queues the newly published ones behind their
-- lane's. Returns how many it moved on.
SELECT outbound.sequence_lanes($1::int) AS moved
