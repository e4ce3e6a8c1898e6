-- citus/distributed: no parameters. Needs the citus extension.
-- How each of outbound's tables is placed: 'h' distributed (by hash),
-- 'n' a reference table; a table not listed is local.
SELECT logicalrelid::regclass::text AS relation, partmethod::text AS method
FROM pg_dist_partition
WHERE logicalrelid::regclass::text LIKE 'outbound.%'
