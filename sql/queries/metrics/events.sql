-- metrics/events: $1 start (inclusive), $2 end (exclusive), $3 bucket width
-- (null = one bucket), $4 monthly buckets, $5 tenant ids, $6 topics,
-- $7 destination ids, $8 by destination (bool), $9 row limit.
-- Event counts by time bucket, tenant and topic — and, when asked, by the
-- destinations each event was routed to (then an event counts once per
-- destination). Walks the events partitions of the range only.
SELECT CASE
           WHEN $3::text::interval IS NULL AND NOT $4 THEN NULL
           WHEN $4 THEN date_trunc('month', e.time, 'UTC')
           ELSE date_bin($3::text::interval, e.time, '2000-01-01 00:00:00+00'::timestamptz)
       END AS bucket,
       e.tenant_id, e.topic, coalesce(r.destination_id, '') AS destination_id,
       count(*) AS n
FROM outbound.events e
LEFT JOIN LATERAL (
    SELECT x.destination_id
    FROM (SELECT a.destination_id FROM outbound.attempts a
          WHERE a.tenant_id = e.tenant_id AND a.event_id = e.id
          UNION
          SELECT q.destination_id FROM outbound.deliveries q
          WHERE q.tenant_id = e.tenant_id AND q.event_id = e.id) x
    WHERE $8 OR $7::text[] IS NOT NULL
) r ON true
WHERE e.time >= $1 AND e.time < $2
  AND ($5::text[] IS NULL OR e.tenant_id = ANY ($5))
  AND ($6::text[] IS NULL OR e.topic = ANY ($6))
  AND ($7::text[] IS NULL OR r.destination_id = ANY ($7))
GROUP BY 1, 2, 3, 4
ORDER BY 1
LIMIT $9
