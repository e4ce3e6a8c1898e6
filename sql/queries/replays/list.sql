-- replays/list: $1 tenant id, $2 most rows.
-- A tenant's replays, newest first (replays_tenant_created), as
-- replays/get.sql answers each.
SELECT r.tenant_id, r.id, r.destination_id, r.start_time, r.end_time, r.failed_only, r.topics,
       r.state::text AS state, r.error, r.scanned, r.cursor_time, r.events_scanned,
       r.deliveries_queued, r.deliveries_held, r.deliveries_skipped, r.deliveries_cancelled,
       CASE WHEN r.state = 'running' THEN
           (SELECT count(*) FROM outbound.deliveries d
            WHERE d.tenant_id = r.tenant_id AND d.replay_id = r.id
              AND d.state <> 'held' AND d.attempts = d.retry_base)
       ELSE 0 END AS deliveries_waiting,
       r.requested_by, r.created_at, r.updated_at, r.finished_at
FROM outbound.replays r
WHERE r.tenant_id = $1
ORDER BY r.created_at DESC, r.id DESC
LIMIT $2
