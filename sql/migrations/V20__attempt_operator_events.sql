-- V20: the outbox takes attempt.success and attempt.failed (Outpost v1.1),
-- one operator event per attempt, written by the recorder in the
-- attempt's transaction when OPERATOR_EVENTS_TOPICS asks for them.
--
-- The outbox holds only what is not delivered yet, so re-checking its
-- rows is quick.
ALTER TABLE outbound.operator_events
    DROP CONSTRAINT operator_events_topic_known,
    ADD CONSTRAINT operator_events_topic_known CHECK (topic IN (
        'alert.destination.consecutive_failure',
        'alert.destination.disabled',
        'alert.attempt.exhausted_retries',
        'tenant.subscription.updated',
        'attempt.success',
        'attempt.failed'));
