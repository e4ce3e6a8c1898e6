-- bench/only_d_topic: one destination in play (one delivery per event).
-- The others are moved aside, not disabled: a disabled destination gets
-- its events too, held (V15).
WITH moved AS (
    DELETE FROM outbound.destinations WHERE id <> 'd_topic' RETURNING *
)
INSERT INTO outbound_bench_parked SELECT * FROM moved
