-- destinations/insert: $1 id, $2 tenant_id, $3 type, $4 topics, $5 filter (jsonb),
-- $6 filter_path (compiled predicate text), $7 config, $8 credentials,
-- $9 delivery_metadata, $10 metadata, $11 disabled_at, $12 topic_patterns
-- (the LIKE patterns of the wildcard topics, V19), $13 delivery_policy (V22).
INSERT INTO outbound.destinations
    (id, tenant_id, type, topics, filter, filter_path, config, credentials,
     delivery_metadata, metadata, disabled_at, disabled_reason, topic_patterns,
     delivery_policy)
VALUES ($1, $2, $3, $4, $5, $6::text::jsonpath, $7, $8, $9, $10, $11,
        CASE WHEN $11::timestamptz IS NOT NULL THEN 'manual' END, $12, $13)
RETURNING created_at
