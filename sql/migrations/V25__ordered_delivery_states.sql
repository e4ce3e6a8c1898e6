-- V25: the queue states of ordered delivery (issue 25; V26 uses them).
--   queued:  an ordered delivery not yet sequenced: it waits for the worker's
--            sequencing pass (outbound.sequence_lanes), outside the claim index
--   waiting: an ordered delivery behind another one of its lane
--   blocked: a lane's delivery that failed for the last time on a
--            destination that blocks after a failure: the lane waits for a
--            person (retry it, or skip it)
--
-- Its own migration: a new enum value cannot be used in the transaction
-- that adds it (V26 indexes on them).
ALTER TYPE outbound.delivery_state ADD VALUE IF NOT EXISTS 'queued';
ALTER TYPE outbound.delivery_state ADD VALUE IF NOT EXISTS 'waiting';
ALTER TYPE outbound.delivery_state ADD VALUE IF NOT EXISTS 'blocked';
