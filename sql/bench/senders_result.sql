-- bench/senders_result: successful deliveries, failed attempts, and the
-- seconds from the first attempt to the last.
SELECT count(*) FILTER (WHERE status = 'success') AS delivered,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       coalesce(extract(epoch FROM max(time) - min(time))::float8, 0) AS seconds
FROM outbound.attempts
