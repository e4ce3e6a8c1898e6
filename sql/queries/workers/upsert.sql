-- workers/upsert: $1 worker id, $2 idle, $3 hostname, $4 pid.
-- Registers a worker, records whether it is waiting for work (publishers
-- notify only while some worker is idle), and doubles as its heartbeat.
INSERT INTO outbound.workers AS w (id, idle, hostname, pid)
VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET idle = excluded.idle, heartbeat_at = now()
