-- V27: capture an application's table changes as events (issue 26, item 2).
--
--   SELECT outbound.capture('public.orders', 'order.created', tenant => 'account_id');
--
-- installs a trigger on the application's table that publishes each row it
-- inserts (or updates, or deletes) as an event: one INSERT INTO
-- outbound.events in the application's own statement and transaction, so
-- a captured change publishes exactly as the application's own INSERT
-- would (the same fan-out, the same checks; a rollback publishes nothing).
--
-- - Inserts and deletes are captured by a statement-level trigger with a
--   transition table: a multi-row INSERT, an INSERT … SELECT or a COPY is
--   one set-based INSERT … SELECT into outbound.events, fanned out once.
-- - Updates are captured by a row-level trigger: an update's old and new
--   row are then paired by PostgreSQL itself (the OLD and NEW transition
--   tables of an UPDATE are two sets whose pairing no documented rule
--   gives; a wrong pairing would send one row's values with another's, and
--   the other may be another tenant's). Its WHEN clause (the listed columns
--   changed, the tenant did not) runs without calling the function, so an
--   update that changes nothing listed costs almost nothing.
-- - Each capture has its own generated trigger function, with static SQL
--   (its plan is cached for the session), SECURITY DEFINER (it publishes
--   with the rights of the role that called capture(), so the
--   application's role needs no privilege on outbound's tables) and its
--   search_path pinned to pg_catalog, pg_temp (nothing the application's
--   role puts on its path can stand in for what it calls). Every name in
--   the generated SQL is quoted with %I/%L; the two expressions a capture
--   may have (`condition`, `data`) are SQL by design, written by the role
--   that calls capture() and run with its rights, and each is checked to
--   compile, alone, as one expression (a cursor refuses a multi-statement
--   text without running any of it).
-- - A row whose tenant column is NULL or names no tenant of outbound is
--   skipped (unknown_tenant => 'skip', the default: an application's
--   insert never fails because of webhooks), or fails the application's
--   statement (unknown_tenant => 'error'). An update that moves a row to
--   another tenant publishes nothing: its old values are the old tenant's.
-- - On Citus, a table distributed by its tenant column and co-located with
--   outbound.tenants has its trigger run on each shard; the generated
--   function then publishes tenant by tenant, each insert naming its
--   tenant so that Citus routes it to the co-located shard of
--   outbound.events on the same node (the fan-out's own rule there, V16).
--   Other Citus tables (reference, Citus-local, distributed otherwise)
--   are refused.

-- The captures: one per (table, operation, topic). The generated trigger
-- and function names are kept, so a table renamed since is still found.
CREATE TABLE outbound.captures (
    relation       regclass NOT NULL,
    operation      text NOT NULL
                   CONSTRAINT captures_operation_known CHECK (operation IN ('insert', 'update', 'delete')),
    topic          text NOT NULL,
    -- the column holding the tenant id (cast to text)
    tenant_column  text NOT NULL,
    -- update only: publish when one of these changed (NULL: any update)
    columns        text[],
    -- the columns `old`/`new` carry in the data (NULL: all of them)
    fields         text[],
    -- an SQL expression over new/old giving the whole data (replaces the
    -- {"old", "new"} shape; exclusive with fields)
    data           text,
    -- an SQL predicate over new/old: only rows for which it is true publish
    condition      text,
    unknown_tenant text NOT NULL DEFAULT 'skip'
                   CONSTRAINT captures_unknown_tenant_known CHECK (unknown_tenant IN ('skip', 'error')),
    trigger_name   text NOT NULL,
    function_name  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (relation, operation, topic),
    CONSTRAINT captures_function_name_unique UNIQUE (function_name)
);

-- The captures, with whether each one's trigger is on its table and
-- enabled (false after the table was dropped, or its trigger disabled).
CREATE VIEW outbound.capture_list AS
SELECT c.relation, c.operation, c.topic, c.tenant_column, c.columns, c.fields, c.data,
       c.condition, c.unknown_tenant, c.trigger_name,
       'outbound.' || quote_ident(c.function_name) || '()' AS function_name,
       EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
               WHERE t.tgrelid = c.relation AND t.tgname = c.trigger_name
                 AND t.tgenabled <> 'D') AS active,
       c.created_at, c.updated_at
FROM outbound.captures c;

-- A table's columns, for the hint of an error that names a missing one.
CREATE FUNCTION outbound.capture_columns_of(relation regclass) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum), '(none)')
    FROM pg_attribute a
    WHERE a.attrelid = relation AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- Whether `IS DISTINCT FROM` can compare two values of a type: it has an
-- `=` of its own (through domains, and for arrays, their elements'). json,
-- xml, point and the like have none; their columns are compared as text
-- (the stored value changed), which is never wrong, only slower.
CREATE FUNCTION outbound.capture_comparable(typ oid) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
BEGIN
    LOOP
        SELECT y.typtype, y.typbasetype, y.typcategory, y.typelem INTO t
        FROM pg_type y WHERE y.oid = typ;
        IF NOT FOUND THEN
            RETURN false;
        ELSIF t.typtype = 'd' THEN
            typ := t.typbasetype;
        ELSIF t.typcategory = 'A' AND t.typelem <> 0 THEN
            typ := t.typelem;
        ELSE
            RETURN EXISTS (SELECT 1 FROM pg_operator o
                           WHERE o.oprname = '=' AND o.oprleft = typ AND o.oprright = typ
                             AND o.oprresult = 'boolean'::regtype);
        END IF;
    END LOOP;
END
$$;

-- What `old` or `new` carries in a capture's data: the whole row, or the
-- listed columns (in the order listed).
CREATE FUNCTION outbound.capture_projection(fields text[], image text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN fields IS NULL THEN format('row_to_json(%s)', image)
                ELSE (SELECT 'json_build_object(' || string_agg(format('%L, %s.%I', f, image, f), ', ' ORDER BY k) || ')'
                      FROM unnest(fields) WITH ORDINALITY AS u(f, k))
           END
$$;

-- Raised by a capture with unknown_tenant => 'error' for a row whose
-- tenant column is NULL (called through coalesce, so only for such a row).
CREATE FUNCTION outbound.capture_no_tenant(capture text, tenant_column text) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'outbound: % refuses a row whose tenant column % is NULL', capture, quote_ident(tenant_column)
        USING ERRCODE = 'not_null_violation',
              HINT = 'unknown_tenant => ''skip'' (the default) publishes nothing for such a row instead';
END
$$;

-- Installs (or replaces) the capture of `relation`'s `operation` as
-- events of `topic`; answers the name of the trigger it made. See
-- docs/capturing.md.
CREATE FUNCTION outbound.capture(
    relation       regclass,
    topic          text,
    tenant         text DEFAULT 'tenant_id',
    operation      text DEFAULT 'insert',
    columns        text[] DEFAULT NULL,
    fields         text[] DEFAULT NULL,
    data           text DEFAULT NULL,
    condition      text DEFAULT NULL,
    unknown_tenant text DEFAULT 'skip')
RETURNS text
LANGUAGE plpgsql
-- The expressions are checked with the path the generated function runs
-- with: what compiles here is what runs there. Citus refuses a trigger on
-- a distributed table unless told, and refuses to change a function on
-- every node once the transaction has written shards in parallel (as
-- dropping a trigger does by default): both settings hold for this
-- function's own statements only, and change nothing without Citus.
SET search_path = pg_catalog, pg_temp
SET citus.enable_unsafe_triggers = on
SET citus.multi_shard_modify_mode = 'sequential'
AS $fn$
DECLARE
    op          text := lower(capture.operation);
    rel         text;
    what        text;
    kind        "char";
    schema_name name;
    image       text;
    from_clause text;
    col         text;
    typ         oid;
    payload     text;
    cond        text;
    tenant_value text;
    tenant_known text;
    changed     text[] := ARRAY[]::text[];
    when_clause text;
    body        text;
    trig        text;
    func        text;
    hash        text;
    per_tenant  boolean;
    dist_method text;
    dist_group  integer;
    dist_column text;
    tenants_group integer;
    null_tenant text;
    existing    outbound.captures;
    cur         refcursor;
    err         text;
    err_state   text;
BEGIN
    IF capture.relation IS NULL THEN
        RAISE EXCEPTION 'outbound: capture needs a table'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT c.relkind, s.nspname INTO kind, schema_name
    FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
    WHERE c.oid = capture.relation;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'outbound: relation % does not exist', capture.relation::oid
            USING ERRCODE = 'undefined_table';
    END IF;
    rel := capture.relation::text;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'outbound: % is not a table; a capture is a trigger on a table or a partitioned table', rel
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF schema_name = 'outbound' THEN
        RAISE EXCEPTION 'outbound: % is one of outbound''s own tables; capture the application''s tables', rel
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF op IS NULL OR op NOT IN ('insert', 'update', 'delete') THEN
        RAISE EXCEPTION 'outbound: operation must be insert, update or delete, not %',
                        coalesce(quote_literal(capture.operation), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The rules of an event's topic (domain::topic), and no '*': a
    -- capture's events have a name.
    IF capture.topic IS NULL OR capture.topic = '' THEN
        RAISE EXCEPTION 'outbound: a capture needs a topic'
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF length(capture.topic) > 255 THEN
        RAISE EXCEPTION 'outbound: the topic is longer than 255 characters'
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF capture.topic ~ '[[:space:][:cntrl:]]' THEN
        RAISE EXCEPTION 'outbound: the topic % contains whitespace or control characters', quote_literal(capture.topic)
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF strpos(capture.topic, '*') > 0 THEN
        RAISE EXCEPTION 'outbound: the topic % contains ''*''; a captured event''s topic is a name', quote_literal(capture.topic)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'patterns are for destinations'' subscriptions';
    END IF;
    what := format('the %s capture of %s (topic "%s")', op, rel, capture.topic);

    IF capture.unknown_tenant IS NULL OR capture.unknown_tenant NOT IN ('skip', 'error') THEN
        RAISE EXCEPTION 'outbound: unknown_tenant must be skip or error, not %',
                        coalesce(quote_literal(capture.unknown_tenant), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The columns named must be the table's.
    IF capture.tenant IS NULL OR NOT EXISTS (
            SELECT 1 FROM pg_attribute a
            WHERE a.attrelid = capture.relation AND a.attname = capture.tenant
              AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'outbound: % has no column % to take the tenant from',
                        rel, coalesce(quote_ident(capture.tenant), 'NULL')
            USING ERRCODE = 'undefined_column',
                  HINT = format('name the column that holds the tenant id with tenant => ''…''; the columns of %s: %s',
                                rel, outbound.capture_columns_of(capture.relation));
    END IF;
    IF capture.columns IS NOT NULL AND op <> 'update' THEN
        RAISE EXCEPTION 'outbound: columns => applies to update captures (the columns whose change publishes), not to %', op
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(capture.columns) = 0 OR cardinality(capture.fields) = 0 THEN
        RAISE EXCEPTION 'outbound: an empty column list; leave columns/fields out to mean every column'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF capture.fields IS NOT NULL AND capture.data IS NOT NULL THEN
        RAISE EXCEPTION 'outbound: give fields => (the columns old and new carry) or data => (the whole data), not both'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(capture.fields) > 50 THEN
        RAISE EXCEPTION 'outbound: fields => lists % columns; at most 50', cardinality(capture.fields)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'for a wider projection, give the data as an expression: data => ''…''';
    END IF;
    FOREACH col IN ARRAY coalesce(capture.columns, ARRAY[]::text[]) || coalesce(capture.fields, ARRAY[]::text[]) LOOP
        IF col IS NULL OR NOT EXISTS (
                SELECT 1 FROM pg_attribute a
                WHERE a.attrelid = capture.relation AND a.attname = col
                  AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'outbound: % has no column %', rel, coalesce(quote_ident(col), 'NULL')
                USING ERRCODE = 'undefined_column',
                      HINT = format('the columns of %s: %s', rel, outbound.capture_columns_of(capture.relation));
        END IF;
    END LOOP;

    -- On Citus (outbound distributed by `outbound migrate --citus`), a
    -- captured row publishes tenant by tenant (below). A table distributed
    -- by its tenant column and co-located with outbound.tenants has its
    -- trigger run on each of its shards, on the worker node that holds
    -- them, where it may only write co-located shards; a table of the
    -- coordinator's own has it run there. Other Citus tables are refused.
    per_tenant := coalesce((SELECT s.distributed FROM outbound.settings s), false);
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT p.partmethod::text, p.colocationid, pg_catalog.column_to_column_name(p.logicalrelid, p.partkey),
                        (SELECT t.colocationid FROM pg_catalog.pg_dist_partition t
                         WHERE t.logicalrelid = ''outbound.tenants''::regclass)
                 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1'
            INTO dist_method, dist_group, dist_column, tenants_group USING capture.relation;
        IF dist_method IS NOT NULL AND dist_method <> 'h' THEN
            RAISE EXCEPTION 'outbound: % is a Citus reference table or Citus local table; capture works on tables distributed by their tenant column, and on tables Citus does not manage', rel
                USING ERRCODE = 'feature_not_supported',
                      HINT = format('distribute it by its tenant, co-located with outbound''s tables: SELECT create_distributed_table(%L, %L, colocate_with => ''outbound.tenants'')',
                                    rel, capture.tenant);
        ELSIF dist_method IS NOT NULL AND dist_column IS DISTINCT FROM capture.tenant THEN
            RAISE EXCEPTION 'outbound: % is distributed by Citus by its column %, not by its tenant column %',
                            rel, coalesce(quote_ident(dist_column), '(none)'), quote_ident(capture.tenant)
                USING ERRCODE = 'feature_not_supported',
                      HINT = format('a trigger on a shard may only write the shards on its own node: SELECT create_distributed_table(%L, %L, colocate_with => ''outbound.tenants'')',
                                    rel, capture.tenant);
        ELSIF dist_method IS NOT NULL AND dist_group IS DISTINCT FROM tenants_group THEN
            RAISE EXCEPTION 'outbound: % is distributed by Citus but not co-located with outbound.tenants', rel
                USING ERRCODE = 'feature_not_supported',
                      HINT = format('a trigger on a shard may only write the shards on its own node: SELECT create_distributed_table(%L, %L, colocate_with => ''outbound.tenants'')',
                                    rel, capture.tenant);
        ELSIF dist_method IS NOT NULL THEN
            per_tenant := true;
        END IF;
    END IF;

    -- The SQL of the generated function. `image` is the row the tenant
    -- comes from: new, or old for a delete. An insert's and a delete's
    -- rows come from the statement's transition table, an update's from
    -- the row trigger's NEW and OLD (so no FROM).
    image := CASE op WHEN 'delete' THEN 'old' ELSE 'new' END;
    -- What the expressions are checked against: a row of the table's type
    -- (of NULLs) named as the trigger names it, read from no table (Citus
    -- plans no join of a distributed table with itself).
    from_clause := CASE op
        WHEN 'insert' THEN format('(SELECT (NULL::%s).*) AS new', rel)
        WHEN 'delete' THEN format('(SELECT (NULL::%s).*) AS old', rel)
        ELSE format('(SELECT (NULL::%s).*) AS old, (SELECT (NULL::%s).*) AS new', rel, rel)
    END;

    IF capture.data IS NOT NULL THEN
        payload := format(E'(\n%s\n)::json', capture.data);
    ELSE
        SELECT 'json_build_object(' || string_agg(format('%L, %s', i, outbound.capture_projection(capture.fields, i)),
                                                  ', ' ORDER BY k) || ')'
        INTO payload
        FROM unnest(CASE op WHEN 'insert' THEN ARRAY['new'] WHEN 'delete' THEN ARRAY['old']
                            ELSE ARRAY['old', 'new'] END) WITH ORDINALITY AS u(i, k);
    END IF;
    cond := CASE WHEN capture.condition IS NULL THEN 'true' ELSE format(E'(\n%s\n)', capture.condition) END;

    tenant_value := format('(%s.%I)::text', image, capture.tenant);
    IF capture.unknown_tenant = 'skip' THEN
        -- NULL matches no tenant either.
        tenant_known := format('EXISTS (SELECT 1 FROM outbound.tenants t WHERE t.id = %s)', tenant_value);
    ELSE
        -- A tenant that does not exist is refused by the fan-out, as for
        -- any event; a NULL one here, with this error.
        tenant_known := 'true';
        null_tenant := format('RAISE EXCEPTION %L, %L, %L USING ERRCODE = %L, HINT = %L;',
                              'outbound: % refuses a row whose tenant column % is NULL',
                              what, quote_ident(capture.tenant), 'not_null_violation',
                              'unknown_tenant => ''skip'' (the default) publishes nothing for such a row instead');
    END IF;

    -- Each expression must compile alone, as one expression over the
    -- table's row(s); the cursor is opened (planned) and closed, never
    -- read, and refuses a text of several statements.
    BEGIN
        IF capture.condition IS NOT NULL THEN
            OPEN cur FOR EXECUTE format('SELECT 1 FROM %s WHERE %s LIMIT 0', from_clause, cond);
            CLOSE cur;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, err_state = RETURNED_SQLSTATE;
        RAISE EXCEPTION 'outbound: the condition of % does not compile: %', what, err
            USING ERRCODE = err_state,
                  HINT = 'a condition is one SQL expression giving a boolean; an insert capture sees the row as new, '
                         'a delete as old, an update both; name functions and tables with their schema';
    END;
    BEGIN
        IF capture.data IS NOT NULL THEN
            OPEN cur FOR EXECUTE format('SELECT %s FROM %s LIMIT 0', payload, from_clause);
            CLOSE cur;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err = MESSAGE_TEXT, err_state = RETURNED_SQLSTATE;
        RAISE EXCEPTION 'outbound: the data of % does not compile: %', what, err
            USING ERRCODE = err_state,
                  HINT = 'data is one SQL expression giving a JSON object (json, jsonb or its text); an insert capture '
                         'sees the row as new, a delete as old, an update both; name functions and tables with their schema';
    END;
    -- The statement as the single-node trigger runs it, with that row
    -- standing in for its transition table (or NEW and OLD).
    OPEN cur FOR EXECUTE format('SELECT %s, %L, %s FROM %s WHERE %s AND %s LIMIT 0',
                                tenant_value, capture.topic, payload, from_clause, cond, tenant_known);
    CLOSE cur;

    IF op = 'update' THEN
        -- A row trigger's WHEN: the tenant did not change and (when
        -- columns are listed) one of them did.
        FOREACH col IN ARRAY coalesce(capture.columns, ARRAY[]::text[]) LOOP
            SELECT a.atttypid INTO typ FROM pg_attribute a
            WHERE a.attrelid = capture.relation AND a.attname = col;
            changed := changed || CASE WHEN outbound.capture_comparable(typ)
                                       THEN format('old.%I IS DISTINCT FROM new.%I', col, col)
                                       ELSE format('(old.%I)::text IS DISTINCT FROM (new.%I)::text', col, col)
                                  END;
        END LOOP;
        when_clause := format('(old.%I)::text IS NOT DISTINCT FROM (new.%I)::text', capture.tenant, capture.tenant);
        IF cardinality(changed) > 0 THEN
            SELECT when_clause || ' AND (' || string_agg(DISTINCT x, ' OR ') || ')' INTO when_clause
            FROM unnest(changed) AS x;
        END IF;
        -- One row: NEW and OLD are the function's variables.
        body := format($b$#variable_conflict use_column
BEGIN
    IF %s THEN
        IF %s IS NULL THEN
            %s
        END IF;
        IF %s THEN
            INSERT INTO outbound.events (tenant_id, topic, data)
            VALUES (%s, %L, %s);
        END IF;
    END IF;
    RETURN NULL;
END$b$, cond, tenant_value, coalesce(null_tenant, 'RETURN NULL;'), tenant_known,
        tenant_value, capture.topic, payload);
    ELSIF NOT per_tenant THEN
        -- One statement over the whole transition table; a NULL tenant
        -- (when refused) raises through capture_no_tenant(), called by
        -- coalesce for that row only.
        body := format($b$#variable_conflict use_column
BEGIN
    INSERT INTO outbound.events (tenant_id, topic, data)
    SELECT %s, %L, %s
    FROM %I AS %s
    WHERE %s
      AND %s;
    RETURN NULL;
END$b$, CASE WHEN null_tenant IS NULL THEN tenant_value
             ELSE format('coalesce(%s, outbound.capture_no_tenant(%L, %L))', tenant_value, what, capture.tenant)
        END,
        capture.topic, payload,
        CASE op WHEN 'insert' THEN 'outbound_new' ELSE 'outbound_old' END, image,
        cond, tenant_known);
    ELSE
        -- Citus: this runs on one shard of the table (or on the
        -- coordinator). Tenant by tenant, each statement with the tenant
        -- as a constant, so that Citus routes it to the tenant's shard of
        -- outbound.events, on this node for a co-located table (as the
        -- fan-out does on Citus, V16).
        body := format($b$#variable_conflict use_column
DECLARE
    outbound_tenant text;
    outbound_data json[];
BEGIN
    FOR outbound_tenant, outbound_data IN
        SELECT %s, array_agg(%s)
        FROM %I AS %s
        WHERE %s
        GROUP BY 1
    LOOP
        IF outbound_tenant IS NULL THEN
            %s
        END IF;
        IF %s THEN
            INSERT INTO outbound.events (tenant_id, topic, data)
            SELECT outbound_tenant, %L, d FROM unnest(outbound_data) AS d;
        END IF;
    END LOOP;
    RETURN NULL;
END$b$, tenant_value, payload,
        CASE op WHEN 'insert' THEN 'outbound_new' ELSE 'outbound_old' END, image,
        cond, coalesce(null_tenant, 'CONTINUE;'),
        CASE WHEN capture.unknown_tenant = 'skip'
             THEN 'EXISTS (SELECT 1 FROM outbound.tenants t WHERE t.id = outbound_tenant)'
             ELSE 'true' END,
        capture.topic);
    END IF;

    -- Names: kept from the capture being replaced, else derived from the
    -- capture's identity (the table's oid, so that a table dropped and
    -- made again under the same name is a new capture).
    SELECT * INTO existing FROM outbound.captures c
    WHERE c.relation = capture.relation AND c.operation = op AND c.topic = capture.topic
    FOR UPDATE;
    IF FOUND THEN
        trig := existing.trigger_name;
        func := existing.function_name;
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', trig, rel);
    ELSE
        hash := left(md5(format('%s %s %s', capture.relation::oid, op, capture.topic)), 12);
        trig := format('outbound_capture_%s_%s', op, hash);
        func := format('capture_%s_%s', op, hash);
        IF to_regprocedure(format('outbound.%I()', func)) IS NOT NULL
           OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = capture.relation AND t.tgname = trig) THEN
            RAISE EXCEPTION 'outbound: the name % for % is already taken', func, what
                USING ERRCODE = 'duplicate_object',
                      HINT = 'a capture removed by hand left it behind: drop it, or uncapture';
        END IF;
    END IF;

    EXECUTE format('CREATE OR REPLACE FUNCTION outbound.%I() RETURNS trigger '
                   'LANGUAGE plpgsql SECURITY DEFINER '
                   'SET search_path = pg_catalog, pg_temp SET jit = off AS %L', func, body);
    EXECUTE format('COMMENT ON FUNCTION outbound.%I() IS %L', func,
                   format('outbound: publishes %s; made by outbound.capture(), removed by outbound.uncapture()', what));
    IF op = 'update' THEN
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION outbound.%I()',
                       trig, rel, when_clause, func);
    ELSE
        EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s REFERENCING %s TABLE AS %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION outbound.%I()',
                       trig, upper(op), rel, CASE op WHEN 'insert' THEN 'NEW' ELSE 'OLD' END,
                       CASE op WHEN 'insert' THEN 'outbound_new' ELSE 'outbound_old' END, func);
    END IF;

    INSERT INTO outbound.captures AS c
        (relation, operation, topic, tenant_column, columns, fields, data, condition, unknown_tenant,
         trigger_name, function_name)
    VALUES (capture.relation, op, capture.topic, capture.tenant, capture.columns, capture.fields,
            capture.data, capture.condition, capture.unknown_tenant, trig, func)
    ON CONFLICT ON CONSTRAINT captures_pkey DO UPDATE
    SET tenant_column = excluded.tenant_column, columns = excluded.columns, fields = excluded.fields,
        data = excluded.data, condition = excluded.condition, unknown_tenant = excluded.unknown_tenant,
        updated_at = now();
    RETURN trig;
END
$fn$;

-- Removes the captures of `relation` (all of them, or those of one topic
-- and/or operation): their triggers, functions and catalog rows; answers
-- how many. A table dropped since is named by the view's `relation`:
--   SELECT outbound.uncapture(relation) FROM outbound.capture_list WHERE NOT active;
CREATE FUNCTION outbound.uncapture(
    relation   regclass,
    topic      text DEFAULT NULL,
    operation  text DEFAULT NULL,
    missing_ok boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET citus.enable_unsafe_triggers = on
SET citus.multi_shard_modify_mode = 'sequential'
AS $$
DECLARE
    r outbound.captures;
    n integer := 0;
BEGIN
    FOR r IN
        SELECT * FROM outbound.captures c
        WHERE c.relation = uncapture.relation
          AND (uncapture.topic IS NULL OR c.topic = uncapture.topic)
          AND (uncapture.operation IS NULL OR c.operation = lower(uncapture.operation))
        ORDER BY c.operation, c.topic
        FOR UPDATE
    LOOP
        IF EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = r.relation) THEN
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', r.trigger_name, r.relation);
        END IF;
        EXECUTE format('DROP FUNCTION IF EXISTS outbound.%I()', r.function_name);
        DELETE FROM outbound.captures c
        WHERE c.relation = r.relation AND c.operation = r.operation AND c.topic = r.topic;
        n := n + 1;
    END LOOP;
    IF n = 0 AND NOT missing_ok THEN
        RAISE EXCEPTION '%', format('outbound: no capture of %s%s%s', uncapture.relation,
                        CASE WHEN uncapture.operation IS NOT NULL
                             THEN format(' for %s', lower(uncapture.operation)) ELSE '' END,
                        CASE WHEN uncapture.topic IS NOT NULL
                             THEN format(' with topic %s', quote_literal(uncapture.topic)) ELSE '' END)
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT * FROM outbound.capture_list lists the captures; missing_ok => true answers 0 instead';
    END IF;
    RETURN n;
END
$$;
