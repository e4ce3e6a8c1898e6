-- bench/setup: the bench's tenants and destinations (run as a script).
-- Ten destinations of tenant `bench`; 3 of them match a `bench.event`
-- whose data has kind "a" (by topic, by `*`, and by a payload filter).
-- None is disabled: a disabled destination's events are held for it (V15),
-- so a disabled one would not be a destination that does not match.
INSERT INTO outbound.tenants (id) VALUES ('bench'), ('other');
-- 3 of these 10 match a `bench.event` whose data has kind "a":
INSERT INTO outbound.destinations (id, tenant_id, type, topics, filter, filter_path, config) VALUES
  ('d_topic',    'bench', 'webhook', '{bench.event}', NULL, NULL, '{"url":"http://127.0.0.1:9/"}'),
  ('d_star',     'bench', 'webhook', '{*}',           NULL, NULL, '{"url":"http://127.0.0.1:9/"}'),
  ('d_filter',   'bench', 'webhook', '{*}', '{"data":{"kind":"a"}}', '$."data"."kind" == "a"', '{"url":"http://127.0.0.1:9/"}'),
  ('d_other1',   'bench', 'webhook', '{user.created}', NULL, NULL, '{"url":"http://127.0.0.1:9/"}'),
  ('d_other2',   'bench', 'webhook', '{user.updated,user.deleted}', NULL, NULL, '{"url":"http://127.0.0.1:9/"}'),
  ('d_other3',   'bench', 'webhook', '{campaign.completed}', NULL, NULL, '{"url":"http://127.0.0.1:9/"}'),
  ('d_other4',   'bench', 'webhook', '{campaign.started}', NULL, NULL, '{"url":"http://127.0.0.1:9/"}'),
  ('d_nomatch1', 'bench', 'webhook', '{*}', '{"data":{"kind":"b"}}', '$."data"."kind" == "b"', '{"url":"http://127.0.0.1:9/"}'),
  ('d_nomatch2', 'bench', 'webhook', '{bench.event}', '{"data":{"seq":-1}}', '$."data"."seq" == -1', '{"url":"http://127.0.0.1:9/"}'),
  ('d_tenant2',  'other', 'webhook', '{*}', NULL, NULL, '{"url":"http://127.0.0.1:9/"}');
-- What a phase takes out of play (only_d_topic) waits here meanwhile.
CREATE TABLE outbound_bench_parked (LIKE outbound.destinations);
