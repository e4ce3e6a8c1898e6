-- bench/only_d_topic: one destination enabled (one delivery per event).
UPDATE outbound.destinations SET disabled_at = now() WHERE id <> 'd_topic'
