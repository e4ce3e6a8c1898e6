-- attempts/list_desc: $1 tenant ids (null = all), $2 event ids, $3 destination ids,
-- $4 status, $5 topics, $6 time >=, $7 time <=, $8 time >, $9 time <,
-- $10 cursor time, $11 cursor id, $12 limit, $13 destination types.
-- One page of attempts (desc) after the cursor (exclusive), with their
-- event; for one tenant it walks attempts_tenant_time.
-- $14: the one tenant, when exactly one is asked for (then $1 is null):
-- compared with =, the tenant's index walks in order and the LIMIT stops
-- it early; = ANY would read every row of the tenant and sort them.
SELECT a.id, a.tenant_id, a.event_id, a.destination_id, a.attempt_number, a.manual,
       a.status::text AS status, a.code, a.response_status, a.response_headers::text AS response_headers,
       a.response_body, a.duration_ms, a.time,
       e.topic, e.time AS event_time, e.metadata AS event_metadata, e.data::text AS event_data,
       e.eligible_for_retry
FROM outbound.attempts a
LEFT JOIN outbound.events e
       ON e.tenant_id = a.tenant_id AND e.id = a.event_id AND e.time = a.event_time
WHERE ($1::text[] IS NULL OR a.tenant_id = ANY ($1))
  AND ($14::text IS NULL OR a.tenant_id = $14)
  AND ($2::text[] IS NULL OR a.event_id = ANY ($2))
  AND ($3::text[] IS NULL OR a.destination_id = ANY ($3))
  AND ($4::text IS NULL OR a.status::text = $4)
  AND ($5::text[] IS NULL OR e.topic = ANY ($5))
  AND ($6::timestamptz IS NULL OR a.time >= $6)
  AND ($7::timestamptz IS NULL OR a.time <= $7)
  AND ($8::timestamptz IS NULL OR a.time > $8)
  AND ($9::timestamptz IS NULL OR a.time < $9)
  AND ($10::timestamptz IS NULL OR (a.time, a.id) < ($10, $11::bigint))
  AND ($13::text[] IS NULL
       OR (a.tenant_id, a.destination_id) IN (SELECT tenant_id, id FROM outbound.destinations
                                              WHERE type = ANY ($13)))
ORDER BY a.time DESC, a.id DESC
LIMIT $12
