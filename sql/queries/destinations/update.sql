-- destinations/update: $1 id, $2 tenant id, $3 topics, $4 filter, $5 filter_path (text),
-- $6 config, $7 credentials, $8 delivery_metadata, $9 metadata, $10 topic_patterns,
-- $11 delivery_policy.
-- Replaces the editable fields (the API has already merged a PATCH into
-- them); the type and the enabled state are not changed here.
UPDATE outbound.destinations
SET topics = $3, filter = $4, filter_path = $5::text::jsonpath, config = $6, credentials = $7,
    delivery_metadata = $8, metadata = $9, topic_patterns = $10, delivery_policy = $11,
    updated_at = now()
WHERE id = $1 AND tenant_id = $2
RETURNING id
