-- A destination's payload transformation (issue 25, item 4):
-- `delivery_policy.transform`, {"body": "<jq>", "headers": "<jq>"}, either
-- one optional. The API compiles the programs before it saves them; the
-- schema refuses a shape the worker could not read, so that a transform
-- written by hand in SQL is never skipped (and the event's data sent as
-- published) for being malformed. A program that does not compile fails its
-- deliveries with `transform_failed`, as one that fails at run time does.
ALTER TABLE outbound.destinations
    ADD CONSTRAINT destinations_transform_valid CHECK (
        CASE
            WHEN NOT delivery_policy ? 'transform' THEN true
            WHEN jsonb_typeof(delivery_policy -> 'transform') = 'null' THEN true
            WHEN jsonb_typeof(delivery_policy -> 'transform') <> 'object' THEN false
            ELSE coalesce(jsonb_typeof(delivery_policy #> '{transform,body}'), 'null')
                     IN ('string', 'null')
                 AND coalesce(jsonb_typeof(delivery_policy #> '{transform,headers}'), 'null')
                     IN ('string', 'null')
                 AND (delivery_policy -> 'transform') - 'body' - 'headers' = '{}'::jsonb
        END
    );
