-- destinations/list: $1 tenant id, $2 types (null = all), $3 topics (null = all).
-- A tenant's destinations, oldest first (destinations_tenant_created).
-- A topic filter matches destinations subscribed to it, to `*`, or to a
-- pattern that matches it.
SELECT id, tenant_id, type, topics, filter, config, credentials, delivery_metadata, metadata,
       delivery_policy,
       disabled_at, disabled_reason, consecutive_failures, created_at, updated_at,
       -- Deliveries held while disabled, counted up to 100,000 (an index
       -- walk of deliveries_held; enabled destinations have none to show).
       CASE WHEN disabled_at IS NULL THEN 0 ELSE (
           SELECT count(*) FROM (SELECT 1 FROM outbound.deliveries q
                                 WHERE q.tenant_id = d.tenant_id AND q.destination_id = d.id
                                   AND q.state = 'held'
                                 LIMIT 100000) h) END AS held_events
FROM outbound.destinations d
WHERE tenant_id = $1
  AND ($2::text[] IS NULL OR type = ANY ($2))
  AND ($3::text[] IS NULL OR topics && ($3 || ARRAY['*'])
       OR EXISTS (SELECT 1 FROM unnest($3) AS q(topic) WHERE q.topic LIKE ANY (d.topic_patterns)))
ORDER BY created_at, id
