-- attempts/last_number: $1 event_id, $2 destination_id.
-- The number of the latest attempt of a delivery (null: never attempted).
SELECT max(attempt_number) FROM outbound.attempts WHERE event_id = $1 AND destination_id = $2
