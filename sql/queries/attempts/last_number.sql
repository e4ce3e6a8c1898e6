-- attempts/last_number: $1 event_id, $2 destination_id, $3 tenant_id.
-- The number of the latest attempt of a delivery (null: never attempted).
SELECT max(attempt_number) FROM outbound.attempts WHERE tenant_id = $3 AND event_id = $1 AND destination_id = $2
