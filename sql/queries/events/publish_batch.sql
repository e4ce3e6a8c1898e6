-- events/publish_batch: parallel arrays, one element per event:
-- $1 tenant_id[], $2 topic[], $3 data[] (json text), $4 id[] (null = generated),
-- $5 metadata[] (jsonb, null = {}), $6 time[] (null = now()),
-- $7 eligible_for_retry[], $8 destination_id[] (null = every matching one).
-- One statement for many events (see outbound.publish_batch()); rows come
-- back in input order, numbered from 1.
SELECT n, event_id, duplicate, destination_ids
FROM outbound.publish_batch($1, $2, $3, $4, $5, $6, $7, $8)
