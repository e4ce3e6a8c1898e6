-- operator_events/subscription: $1 tenant id.
--
-- What tenant.subscription.updated compares: the topics the tenant's
-- enabled destinations subscribe to (sorted, distinct) and how many
-- destinations it has. Read before and after a destination write, in the
-- write's transaction.
SELECT coalesce((SELECT array_agg(DISTINCT topic ORDER BY topic)
                 FROM outbound.destinations d, unnest(d.topics) AS topic
                 WHERE d.tenant_id = $1 AND d.disabled_at IS NULL), ARRAY[]::text[]) AS topics,
       (SELECT count(*) FROM outbound.destinations d WHERE d.tenant_id = $1)::int AS destinations_count
