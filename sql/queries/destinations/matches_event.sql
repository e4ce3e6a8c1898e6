-- destinations/matches_event: $1 destination id, $2 event id, $3 tenant id.
-- Whether the destination (still) matches the event: topic and filter, as
-- the fan-out decides. No row when either is gone.
SELECT (d.topics && ARRAY['*', e.topic] OR e.topic IN ('', '*')
        OR coalesce(e.topic LIKE ANY (d.topic_patterns), false))
       AND (d.filter_path IS NULL
            OR coalesce(jsonb_path_match(outbound.envelope(e.id, e.topic, e.time, e.metadata, e.data),
                                         d.filter_path, '{}', true), false))
FROM outbound.destinations d,
     outbound.event_ids k
     JOIN outbound.events e ON e.tenant_id = k.tenant_id AND e.id = k.id AND e.time = k.time
WHERE d.tenant_id = $3 AND d.id = $1 AND k.tenant_id = $3 AND k.id = $2
