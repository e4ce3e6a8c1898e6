-- replays/step: $1 tenant id, $2 replay id, $3 batch size, $4 now.
-- One step of a replay, its own transaction (outbound.replay_step(), V28):
-- the next batch of its range queued, or nothing while a batch of what it
-- queued still waits for a first attempt. All nulls when another worker
-- is stepping it.
SELECT r.tenant_id, r.id, r.state::text AS state, r.scanned, r.events_scanned,
       r.deliveries_queued, r.deliveries_held
FROM outbound.replay_step($1, $2, $3, $4) r
