-- operator_events/subscription_updated: $1 tenant id, $2 previous topics,
-- $3 previous destination count, $4 now.
--
-- Inserts tenant.subscription.updated when the tenant's subscription (see
-- subscription.sql) differs from the one read before the write; nothing
-- otherwise. Returns the inserted id.
WITH now_ AS (
    SELECT coalesce((SELECT array_agg(DISTINCT topic ORDER BY topic)
                     FROM outbound.destinations d, unnest(d.topics) AS topic
                     WHERE d.tenant_id = $1 AND d.disabled_at IS NULL), ARRAY[]::text[]) AS topics,
           (SELECT count(*) FROM outbound.destinations d WHERE d.tenant_id = $1)::int AS n
)
INSERT INTO outbound.operator_events (topic, time, tenant_id, data)
SELECT 'tenant.subscription.updated', $4::timestamptz, $1,
       jsonb_build_object('tenant_id', $1::text,
                          'topics', to_jsonb(c.topics),
                          'previous_topics', to_jsonb($2::text[]),
                          'destinations_count', c.n,
                          'previous_destinations_count', $3::int)
FROM now_ c
WHERE c.topics IS DISTINCT FROM $2::text[] OR c.n <> $3::int
RETURNING id
