-- V8: why a destination is disabled: by someone ('manual', the API or SQL),
-- or by outbound after consecutive failed deliveries
-- ('consecutive_failures'). The portal says which, and the operator event
-- alert.destination.disabled carries it as `reason`. NULL while enabled
-- (and for destinations disabled before this migration).
ALTER TABLE outbound.destinations
    ADD COLUMN disabled_reason text
        CONSTRAINT destinations_disabled_reason_known
        CHECK (disabled_reason IN ('manual', 'consecutive_failures'));
