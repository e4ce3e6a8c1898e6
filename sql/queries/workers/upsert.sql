-- workers/upsert: $1 worker id, $2 idle, $3 hostname, $4 pid.
-- Registers a worker, records whether it is waiting for work (publishers
-- notify only while some worker is idle), and doubles as its heartbeat.
--
-- It never waits for a row lock. The only other writer of a worker's row
-- is a publisher clearing its idle flag (fan_out()'s latch), which holds
-- the row until its own transaction ends: an application's transaction
-- may stay open for a long time after its INSERT, and the worker's claim
-- loop must not wait for it. Skipping is right then: that publisher
-- notifies when it commits (the flag was set), or rolls back and leaves
-- the flag set. A heartbeat skipped this way is written the next time.
WITH mine AS (
    SELECT id FROM outbound.workers WHERE id = $1 FOR UPDATE SKIP LOCKED
), updated AS (
    UPDATE outbound.workers w SET idle = $2, heartbeat_at = now()
    FROM mine WHERE w.id = mine.id
)
INSERT INTO outbound.workers (id, idle, hostname, pid)
SELECT $1, $2, $3, $4
WHERE NOT EXISTS (SELECT 1 FROM outbound.workers WHERE id = $1)
ON CONFLICT (id) DO NOTHING
