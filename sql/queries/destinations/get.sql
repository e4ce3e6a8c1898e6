-- destinations/get: $1 id, $2 tenant id.
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
WHERE id = $1 AND tenant_id = $2
