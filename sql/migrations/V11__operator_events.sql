-- V11: operator events (alerts and subscription changes for the operator).
--
-- An outbox: each event is inserted in the same transaction as the state
-- change that causes it (the recorder's batch, the API's destination
-- write), so it exists exactly when the change does, and a process that
-- dies before sending it leaves it here for the next worker. Workers claim
-- due rows with FOR UPDATE SKIP LOCKED, lease them like deliveries, and
-- delete them once the sink answered 2xx. The table holds only what is not
-- delivered yet.
CREATE TABLE outbound.operator_events (
    id              text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    topic           text NOT NULL
                    CONSTRAINT operator_events_topic_known CHECK (topic IN (
                        'alert.destination.consecutive_failure',
                        'alert.destination.disabled',
                        'alert.attempt.exhausted_retries',
                        'tenant.subscription.updated')),
    time            timestamptz NOT NULL DEFAULT now(),
    tenant_id       text,
    -- the envelope's `data`; built from the tables by the inserting
    -- statement, never from destinations.credentials
    data            jsonb NOT NULL
                    CONSTRAINT operator_events_data_object CHECK (jsonb_typeof(data) = 'object'),
    attempts        integer NOT NULL DEFAULT 0
                    CONSTRAINT operator_events_attempts_non_negative CHECK (attempts >= 0),
    -- when it is due; while leased, when the lease expires (an expired
    -- lease is simply due again, as in outbound.deliveries)
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner     text,
    last_error      text
);
-- Matches the claim: WHERE next_attempt_at <= $now ORDER BY next_attempt_at.
CREATE INDEX operator_events_due ON outbound.operator_events (next_attempt_at);

-- When alert.attempt.exhausted_retries was last emitted per destination:
-- at most one per ALERT_EXHAUSTED_RETRIES_WINDOW_SECONDS.
CREATE TABLE outbound.operator_alert_windows (
    destination_id text NOT NULL REFERENCES outbound.destinations (id) ON DELETE CASCADE,
    topic          text NOT NULL,
    last_at        timestamptz NOT NULL,
    PRIMARY KEY (destination_id, topic)
);
