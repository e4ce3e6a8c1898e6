-- replays/create: $1 tenant id, $2 start, $3 end (null = $8), $4 destination id
-- (null = every destination the events were sent to), $5 failed only, $6 topics
-- (null = all), $7 who asked, $8 now.
-- Starts a replay (outbound.replay(), V28, which checks the range against
-- the retention and the destination, raising with the field's name); the
-- workers run its steps. Answers it as replays/get.sql does.
SELECT r.tenant_id, r.id, r.destination_id, r.start_time, r.end_time, r.failed_only, r.topics,
       r.state::text AS state, r.error, r.scanned, r.cursor_time, r.events_scanned,
       r.deliveries_queued, r.deliveries_held, r.deliveries_skipped, r.deliveries_cancelled,
       0::bigint AS deliveries_waiting,
       r.requested_by, r.created_at, r.updated_at, r.finished_at
FROM outbound.replay(tenant_id => $1, start_time => $2, end_time => $3, destination_id => $4,
                     failed_only => $5, topics => $6, requested_by => $7, at => $8) r
