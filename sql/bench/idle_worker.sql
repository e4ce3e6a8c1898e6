-- bench/idle_worker: a worker that says it is idle, so that every
-- publishing statement notifies.
INSERT INTO outbound.workers (id, idle) VALUES ('bench-idle-worker', true)
