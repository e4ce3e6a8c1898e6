-- bench/all_ten: every destination back in play (3 of 10 match each event).
WITH back AS (
    DELETE FROM outbound_bench_parked RETURNING *
)
INSERT INTO outbound.destinations SELECT * FROM back
