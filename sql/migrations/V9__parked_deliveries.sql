-- V9: a fourth queue state, 'parked': due, but its destination already has
-- as many deliveries in flight as it may (see deliveries/claim.sql).
-- Parked rows are outside the claim index, so a slow destination's backlog
-- never stands between the claim and other destinations' work.
--
-- Its own migration: a new enum value cannot be used in the transaction
-- that adds it (V10 indexes on it).
ALTER TYPE outbound.delivery_state ADD VALUE IF NOT EXISTS 'parked';
