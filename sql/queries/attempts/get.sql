-- attempts/get: $1 attempt id.
-- One attempt with its event (attempts_id index, then the event's partition).
SELECT a.id, a.tenant_id, a.event_id, a.destination_id, a.attempt_number, a.manual,
       a.status::text AS status, a.code, a.response_status, a.response_headers::text AS response_headers,
       a.response_body, a.duration_ms, a.time,
       e.topic, e.time AS event_time, e.metadata AS event_metadata, e.data::text AS event_data,
       e.eligible_for_retry
FROM outbound.attempts a
LEFT JOIN outbound.events e
       ON e.tenant_id = a.tenant_id AND e.id = a.event_id AND e.time = a.event_time
WHERE a.id = $1
