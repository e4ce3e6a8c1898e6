-- deliveries/claim: $1 now (null = now()), $2 batch size, $3 worker id, $4 lease in milliseconds.
--
-- Claims up to $2 due deliveries for one worker, and returns everything
-- needed to send them: the event (found in its partition by id and time)
-- and the destination. Rows locked by another claimer are skipped, not
-- waited for, so any number of workers can claim concurrently.
--
-- A leased row's next_attempt_at is its lease expiry: if the worker dies,
-- the row simply becomes due again and another worker claims it. `claims`
-- counts claims, so only the latest claimer can record the outcome.
--
-- The statement commits on its own, before any network call: no
-- transaction or lock is held while sending.
WITH claimed AS (
    UPDATE outbound.deliveries d
    SET state = 'leased',
        lease_owner = $3,
        claims = d.claims + 1,
        next_attempt_at = coalesce($1, now()) + $4::bigint * interval '1 millisecond'
    -- The rows are found by ctid (a TID scan): joining on the key instead
    -- lets a generic plan hash the whole queue on every claim. The rows are
    -- locked by the subquery, so their ctids cannot change before the UPDATE.
    WHERE d.ctid = ANY (ARRAY(
        SELECT ctid
        FROM outbound.deliveries
        WHERE state IN ('pending', 'leased')
          AND next_attempt_at <= coalesce($1, now())
        ORDER BY next_attempt_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED))
    RETURNING d.event_id, d.destination_id, d.tenant_id, d.event_time, d.claims, d.attempts,
              d.retry, d.manual
)
SELECT c.event_id, c.destination_id, c.tenant_id, c.event_time, c.claims, c.attempts,
       c.retry, c.manual,
       e.topic, e.metadata, e.data::text AS data,
       dst.type, dst.config, dst.credentials, dst.delivery_metadata, dst.disabled_at,
       (e.id IS NOT NULL) AS event_found, (dst.id IS NOT NULL) AS destination_found
FROM claimed c
LEFT JOIN outbound.events e ON e.id = c.event_id AND e.time = c.event_time
LEFT JOIN outbound.destinations dst ON dst.id = c.destination_id
