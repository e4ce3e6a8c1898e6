-- events/list_desc: $1 tenant ids (null = all), $2 event ids, $3 topics,
-- $4 destination ids (events routed to them), $5 time >=, $6 time <=,
-- $7 time >, $8 time <, $9 cursor time, $10 cursor id, $11 limit.
-- One page of events, newest-first (desc) after the cursor (exclusive);
-- for one tenant it walks events_tenant_time. matched_destination_ids are
-- the destinations the event was routed to: queued or attempted.
-- $12: the one tenant, when exactly one is asked for (then $1 is null):
-- compared with =, the tenant's index walks in order and the LIMIT stops
-- it early; = ANY would read every row of the tenant and sort them.
SELECT e.id, e.tenant_id, e.topic, e.time, e.metadata, e.data::text AS data,
       e.eligible_for_retry,
       ARRAY(SELECT x.destination_id
             FROM (SELECT a.destination_id FROM outbound.attempts a
                   WHERE a.tenant_id = e.tenant_id AND a.event_id = e.id
                   UNION
                   SELECT d.destination_id FROM outbound.deliveries d
                   WHERE d.tenant_id = e.tenant_id AND d.event_id = e.id) x
             ORDER BY 1) AS matched_destination_ids
FROM outbound.events e
WHERE ($1::text[] IS NULL OR e.tenant_id = ANY ($1))
  AND ($12::text IS NULL OR e.tenant_id = $12)
  AND ($2::text[] IS NULL OR e.id = ANY ($2))
  AND ($3::text[] IS NULL OR e.topic = ANY ($3))
  AND ($4::text[] IS NULL
       OR EXISTS (SELECT 1 FROM outbound.attempts a
                  WHERE a.tenant_id = e.tenant_id AND a.event_id = e.id
                    AND a.destination_id = ANY ($4))
       OR EXISTS (SELECT 1 FROM outbound.deliveries d
                  WHERE d.tenant_id = e.tenant_id AND d.event_id = e.id
                    AND d.destination_id = ANY ($4)))
  AND ($5::timestamptz IS NULL OR e.time >= $5)
  AND ($6::timestamptz IS NULL OR e.time <= $6)
  AND ($7::timestamptz IS NULL OR e.time > $7)
  AND ($8::timestamptz IS NULL OR e.time < $8)
  AND ($9::timestamptz IS NULL OR (e.time, e.id) < ($9, $10::text))
ORDER BY e.time DESC, e.id DESC
LIMIT $11
