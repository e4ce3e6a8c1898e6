-- destinations/matches_event: $1 destination id, $2 event id.
-- Whether the destination (still) matches the event: topic and filter, as
-- the fan-out decides. No row when either is gone.
SELECT d.topics && ARRAY['*', e.topic]
       AND (d.filter_path IS NULL
            OR coalesce(jsonb_path_match(outbound.envelope(e.id, e.topic, e.time, e.metadata, e.data),
                                         d.filter_path, '{}', true), false))
FROM outbound.destinations d,
     outbound.event_ids k
     JOIN outbound.events e ON e.id = k.id AND e.time = k.time
WHERE d.id = $1 AND k.id = $2
