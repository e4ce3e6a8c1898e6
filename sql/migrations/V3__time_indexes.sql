-- V3: the operator's lists across all tenants (GET /events and GET /attempts
-- without tenant_id) walk an index too, newest first, instead of sorting
-- every row in the time range. Per-tenant lists keep their own indexes.
CREATE INDEX events_time ON outbound.events (time DESC, id DESC);
CREATE INDEX attempts_time ON outbound.attempts (time DESC, id DESC);
