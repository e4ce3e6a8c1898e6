-- maintenance/has_pg_cron: no params.
-- Whether pg_cron is installed in this database (then it runs maintain()).
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron')
