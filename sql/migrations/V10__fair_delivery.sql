-- V10: fair delivery between destinations.
--
-- Parked deliveries are found per destination, oldest first, when the
-- destination has room again; the claim walks the distinct destinations
-- of this index (a skip scan). Only parked rows are in it, so the fan-out
-- and the ordinary claim never pay for it.
CREATE INDEX deliveries_parked ON outbound.deliveries (destination_id, next_attempt_at)
    WHERE state = 'parked';

-- The circuit breaker (see destinations/record_outcomes.sql): consecutive
-- attempts that got no answer at all (timeout, refused or reset
-- connection, DNS or TLS failure), and while the circuit is open, until
-- when. circuit_opens counts the openings since the last answer, and
-- doubles the cool-down each time.
ALTER TABLE outbound.destinations
    ADD COLUMN circuit_failures integer NOT NULL DEFAULT 0,
    ADD COLUMN circuit_open_until timestamptz,
    ADD COLUMN circuit_opens integer NOT NULL DEFAULT 0;
