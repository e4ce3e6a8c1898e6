-- maintenance/schedule_pg_cron: no params.
-- Registers (or updates) the pg_cron job that runs maintenance every 10 minutes.
SELECT cron.schedule('outbound-maintain', '*/10 * * * *', 'SELECT outbound.maintain()')
