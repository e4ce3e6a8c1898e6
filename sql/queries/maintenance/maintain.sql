-- maintenance/maintain: $1 now (null = now()).
-- Partitions ahead, retention drops, side-table trims; see outbound.maintain().
SELECT outbound.maintain(coalesce($1, now()))::text
