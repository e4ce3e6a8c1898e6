-- metrics/attempts: $1 start (inclusive), $2 end (exclusive), $3 bucket width
-- (null = one bucket), $4 monthly buckets, $5 tenant ids, $6 destination ids,
-- $7 destination types, $8 topics, $9 status, $10 codes, $11 manual,
-- $12 attempt numbers, $13 row limit.
-- Attempt counts by time bucket and every dimension; the API folds them
-- into the dimensions asked for and derives the measures. Walks the
-- attempts partitions of the range only.
SELECT CASE
           WHEN $3::text::interval IS NULL AND NOT $4 THEN NULL
           WHEN $4 THEN date_trunc('month', a.time, 'UTC')
           ELSE date_bin($3::text::interval, a.time, '2000-01-01 00:00:00+00'::timestamptz)
       END AS bucket,
       a.tenant_id, a.destination_id, coalesce(d.type, '') AS destination_type,
       coalesce(e.topic, '') AS topic, a.status::text AS status, a.code, a.manual, a.attempt_number,
       count(*) AS n
FROM outbound.attempts a
LEFT JOIN outbound.events e
       ON e.tenant_id = a.tenant_id AND e.id = a.event_id AND e.time = a.event_time
LEFT JOIN outbound.destinations d ON d.tenant_id = a.tenant_id AND d.id = a.destination_id
WHERE a.time >= $1 AND a.time < $2
  AND ($5::text[] IS NULL OR a.tenant_id = ANY ($5))
  AND ($6::text[] IS NULL OR a.destination_id = ANY ($6))
  AND ($7::text[] IS NULL OR d.type = ANY ($7))
  AND ($8::text[] IS NULL OR e.topic = ANY ($8))
  AND ($9::text IS NULL OR a.status::text = $9)
  AND ($10::text[] IS NULL OR a.code = ANY ($10))
  AND ($11::bool IS NULL OR a.manual = $11)
  AND ($12::int[] IS NULL OR a.attempt_number = ANY ($12))
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
ORDER BY 1
LIMIT $13
