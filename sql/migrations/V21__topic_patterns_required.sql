-- V21: a destination whose topics hold a wildcard pattern must carry its
-- LIKE patterns (V19's topic_patterns), which the API computes. A
-- destination written by hand in SQL without them would never match the
-- events its pattern names; it is refused instead, with this constraint's
-- name saying why. (`*` alone needs none: it is matched as a topic.)
ALTER TABLE outbound.destinations
    ADD CONSTRAINT destinations_topic_patterns_required
    CHECK (topic_patterns IS NOT NULL
           OR '*' = ANY (topics)
           OR strpos(array_to_string(topics, ' '), '*') = 0);
