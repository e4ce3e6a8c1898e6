-- bench/all_but_d_disabled: every destination enabled but the one meant
-- to stay disabled (3 of 10 match each event).
UPDATE outbound.destinations SET disabled_at = NULL WHERE id <> 'd_disabled'
