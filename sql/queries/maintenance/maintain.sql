-- maintenance/maintain: $1 now.
-- Partitions ahead, retention drops, side-table trims; see outbound.maintain().
SELECT outbound.maintain($1::timestamptz)::text
