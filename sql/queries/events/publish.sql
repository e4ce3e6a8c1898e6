-- events/publish: $1 tenant_id, $2 topic, $3 data (json text), $4 id (null = generated),
-- $5 metadata (jsonb, null = {}), $6 time (null = now()), $7 eligible_for_retry,
-- $8 destination_id (null = every matching destination).
-- One event through outbound.publish(), the same function SQL publishers
-- use, so the API and SQL paths cannot drift apart.
SELECT event_id, duplicate, destination_ids
FROM outbound.publish($1, $2, $3::text::json, $4, $5, $6, $7, $8)
