-- citus/installed: no parameters.
-- The citus extension's version in this database, if it is installed, and
-- whether this node is the coordinator (where `migrate --citus` must run).
SELECT extversion,
       NOT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'citus_is_coordinator')
           AS old_citus
FROM pg_extension WHERE extname = 'citus'
