-- bench/point_at: $1 receiver URL. Every destination sends to the bench's
-- receiver, signed with a fixed secret.
UPDATE outbound.destinations SET config = jsonb_build_object('url', $1::text),
       credentials = '{"secret":"whsec_bench"}'
