-- replays/cancel: $1 tenant id, $2 replay id, $3 now.
-- Cancels a running replay and takes back what it queued and was not sent
-- (outbound.replay_cancel(), V28); a replay that was not running is
-- answered as it is. All nulls when there is no such replay.
SELECT r.tenant_id, r.id, r.destination_id, r.start_time, r.end_time, r.failed_only, r.topics,
       r.state::text AS state, r.error, r.scanned, r.cursor_time, r.events_scanned,
       r.deliveries_queued, r.deliveries_held, r.deliveries_skipped, r.deliveries_cancelled,
       0::bigint AS deliveries_waiting,
       r.requested_by, r.created_at, r.updated_at, r.finished_at
FROM outbound.replay_cancel($1, $2, $3) r
