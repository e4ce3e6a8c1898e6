-- replays/active: $1 now, $2 most rows.
-- The replays the workers step: the running ones, oldest first
-- (replays_running), and those cancelled within the last ten minutes,
-- whose step takes back the deliveries that were being sent at the cancel
-- once they are recorded (a send lasts at most a lease).
(SELECT r.tenant_id, r.id FROM outbound.replays r
 WHERE r.state = 'running'
 ORDER BY r.created_at
 LIMIT $2)
UNION ALL
(SELECT r.tenant_id, r.id FROM outbound.replays r
 WHERE r.state = 'cancelled' AND r.finished_at > $1::timestamptz - interval '10 minutes'
 LIMIT $2)
