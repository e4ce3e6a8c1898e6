-- replays/trim: $1 now.
-- Replays that ended longer ago than the retention go: their events have.
DELETE FROM outbound.replays r
WHERE r.state <> 'running'
  AND r.finished_at < $1::timestamptz - (SELECT s.retention FROM outbound.settings s)
