-- citus/live_workers: $1 how recent a heartbeat must be, in milliseconds.
-- The worker processes alive now, in a fixed order: each takes the shard
-- groups whose position matches its own (see delivery::worker::shards).
SELECT id FROM outbound.workers
WHERE heartbeat_at > now() - $1::bigint * interval '1 millisecond'
ORDER BY id
