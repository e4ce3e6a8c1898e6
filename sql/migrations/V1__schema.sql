-- V1: the outbound schema.
--
-- Everything lives in the `outbound` schema. The hot path is:
--   INSERT INTO outbound.events  -> statement trigger fan_out()
--     -> outbound.event_ids (global id uniqueness)
--     -> outbound.deliveries (the queue, one row per matching destination)
--     -> pg_notify('outbound_deliveries') only when a worker says it is idle
-- Workers claim deliveries with FOR UPDATE SKIP LOCKED and append to
-- outbound.attempts. events and attempts are partitioned by UTC day so that
-- retention is a partition drop (outbound.maintain()).
--
-- Hot-path tables deliberately carry no foreign keys: an FK is a row-level
-- trigger per inserted row, and the fan-out already joins the rows it would
-- check. Referential rules are enforced set-based in fan_out() instead.

CREATE SCHEMA IF NOT EXISTS outbound;

-- Deployment-wide knobs that the SQL side needs (maintenance runs from
-- pg_cron too, without the service's environment). The service writes them
-- at start-up from its settings.
CREATE TABLE outbound.settings (
    singleton        boolean PRIMARY KEY DEFAULT true
                     CONSTRAINT settings_singleton CHECK (singleton),
    retention        interval NOT NULL DEFAULT interval '7 days'
                     CONSTRAINT settings_retention_at_least_a_day CHECK (retention >= interval '1 day'),
    partitions_ahead integer NOT NULL DEFAULT 3
                     CONSTRAINT settings_partitions_ahead_range CHECK (partitions_ahead BETWEEN 1 AND 60)
);
INSERT INTO outbound.settings DEFAULT VALUES;

CREATE TABLE outbound.tenants (
    id         text PRIMARY KEY
               CONSTRAINT tenants_id_format CHECK (id ~ '^[A-Za-z0-9_.:@+-]{1,255}$'),
    metadata   jsonb
               CONSTRAINT tenants_metadata_object CHECK (metadata IS NULL OR jsonb_typeof(metadata) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_created ON outbound.tenants (created_at, id);

CREATE TABLE outbound.destinations (
    id                   text PRIMARY KEY
                         CONSTRAINT destinations_id_format CHECK (id ~ '^[A-Za-z0-9_.:@+-]{1,255}$'),
    tenant_id            text NOT NULL REFERENCES outbound.tenants (id) ON DELETE CASCADE,
    type                 text NOT NULL
                         CONSTRAINT destinations_type_known CHECK (type IN
                             ('webhook', 'aws_sqs', 'aws_s3', 'aws_kinesis', 'rabbitmq', 'gcp_pubsub')),
    -- '{*}' (or any list containing '*') subscribes to every topic, present and future.
    topics               text[] NOT NULL
                         CONSTRAINT destinations_topics_not_empty CHECK (cardinality(topics) > 0),
    -- The filter as the user wrote it, and the SQL/JSONPath predicate the
    -- service compiled from it (domain::filter). The fan-out evaluates only
    -- the compiled form; a filter without one would silently match
    -- everything, so the schema refuses it.
    filter               jsonb
                         CONSTRAINT destinations_filter_object CHECK (filter IS NULL OR jsonb_typeof(filter) = 'object'),
    filter_path          jsonpath,
    config               jsonb NOT NULL DEFAULT '{}'
                         CONSTRAINT destinations_config_object CHECK (jsonb_typeof(config) = 'object'),
    credentials          jsonb NOT NULL DEFAULT '{}'
                         CONSTRAINT destinations_credentials_object CHECK (jsonb_typeof(credentials) = 'object'),
    delivery_metadata    jsonb
                         CONSTRAINT destinations_delivery_metadata_object CHECK (delivery_metadata IS NULL OR jsonb_typeof(delivery_metadata) = 'object'),
    metadata             jsonb
                         CONSTRAINT destinations_metadata_object CHECK (metadata IS NULL OR jsonb_typeof(metadata) = 'object'),
    disabled_at          timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0
                         CONSTRAINT destinations_consecutive_failures_non_negative CHECK (consecutive_failures >= 0),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT destinations_filter_compiled CHECK (
        (filter_path IS NULL OR filter IS NOT NULL)
        AND (filter_path IS NOT NULL OR filter IS NULL OR filter = '{}'::jsonb))
);
-- The fan-out looks up a tenant's enabled destinations.
CREATE INDEX destinations_fan_out ON outbound.destinations (tenant_id) WHERE disabled_at IS NULL;
CREATE INDEX destinations_tenant_created ON outbound.destinations (tenant_id, created_at, id);

-- Events, partitioned by UTC day on `time`. `data` is json, not jsonb: json
-- keeps the text exactly as published (key order, number spelling), which is
-- the webhook body; the fan-out casts to jsonb only for filtered destinations.
CREATE TABLE outbound.events (
    id                 text NOT NULL DEFAULT gen_random_uuid()::text
                       CONSTRAINT events_id_format CHECK (id <> '' AND length(id) <= 255),
    tenant_id          text NOT NULL,
    topic              text NOT NULL
                       CONSTRAINT events_topic_format CHECK (topic <> '' AND length(topic) <= 255),
    time               timestamptz NOT NULL DEFAULT now(),
    metadata           jsonb NOT NULL DEFAULT '{}'
                       CONSTRAINT events_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    data               json NOT NULL
                       CONSTRAINT events_data_object CHECK (json_typeof(data) = 'object'),
    eligible_for_retry boolean NOT NULL DEFAULT true,
    -- When set, the event goes to this destination only (if it matches).
    destination_id     text,
    PRIMARY KEY (id, time)
) PARTITION BY RANGE (time);
CREATE TABLE outbound.events_default PARTITION OF outbound.events DEFAULT;
CREATE INDEX events_tenant_time ON outbound.events (tenant_id, time DESC, id DESC);

-- A unique index on a partitioned table must contain the partition key, so
-- (id, time) cannot stop the same id being published again on another day.
-- This narrow table does: one row per accepted event id, kept as long as the
-- events are.
CREATE TABLE outbound.event_ids (
    id   text NOT NULL CONSTRAINT event_id_unique PRIMARY KEY,
    time timestamptz NOT NULL
);

-- The queue. A row exists while a delivery still has work to do; finished
-- deliveries are removed (their history is in attempts), so the table stays
-- as small as the backlog.
--   pending: waiting for next_attempt_at
--   leased:  claimed by a worker; next_attempt_at is then the lease expiry,
--            so an expired lease is simply due again (no separate rescuer)
--   held:    its destination is disabled; not claimable until re-enabled
CREATE TYPE outbound.delivery_state AS ENUM ('pending', 'leased', 'held');

CREATE TABLE outbound.deliveries (
    event_id        text NOT NULL,
    destination_id  text NOT NULL,
    tenant_id       text NOT NULL,
    event_time      timestamptz NOT NULL,
    state           outbound.delivery_state NOT NULL DEFAULT 'pending',
    -- attempts recorded so far; the next attempt is number attempts + 1
    attempts        integer NOT NULL DEFAULT 0
                    CONSTRAINT deliveries_attempts_non_negative CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- the worker holding the lease, and how many times the row was claimed:
    -- a result is recorded only by the holder of the latest claim.
    lease_owner     text,
    claims          integer NOT NULL DEFAULT 0,
    -- copied from the event: false means a single attempt
    retry           boolean NOT NULL DEFAULT true,
    -- the next attempt was asked for by a person (POST /retry)
    manual          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (event_id, destination_id),
    CONSTRAINT deliveries_lease_owner_iff_leased CHECK ((state = 'leased') = (lease_owner IS NOT NULL))
);
-- Matches the claim query exactly: WHERE state IN ('pending','leased')
-- AND next_attempt_at <= $now ORDER BY next_attempt_at.
CREATE INDEX deliveries_claim ON outbound.deliveries (next_attempt_at)
    WHERE state IN ('pending', 'leased');
-- No index on destination_id: every index here is paid for by every
-- fan-out row, while finding a destination's deliveries (disable, enable)
-- is rare and scans a table that is only as large as the backlog.

CREATE TYPE outbound.attempt_status AS ENUM ('success', 'failed');

CREATE SEQUENCE outbound.attempt_ids;

-- The delivery log, append-only, partitioned by UTC day on `time`. Ids are
-- sequential (cheap to index, unlike random ones).
CREATE TABLE outbound.attempts (
    id               bigint NOT NULL DEFAULT nextval('outbound.attempt_ids'),
    tenant_id        text NOT NULL,
    event_id         text NOT NULL,
    event_time       timestamptz NOT NULL,
    destination_id   text NOT NULL,
    attempt_number   integer NOT NULL
                     CONSTRAINT attempts_number_positive CHECK (attempt_number > 0),
    manual           boolean NOT NULL DEFAULT false,
    status           outbound.attempt_status NOT NULL,
    -- the HTTP status ("200", "503") or a failure class ("timeout", ...)
    code             text NOT NULL,
    response_status  integer,
    response_headers jsonb,
    response_body    text
                     CONSTRAINT attempts_response_body_capped CHECK (octet_length(response_body) <= 131072),
    duration_ms      integer NOT NULL
                     CONSTRAINT attempts_duration_non_negative CHECK (duration_ms >= 0),
    time             timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (time);
CREATE TABLE outbound.attempts_default PARTITION OF outbound.attempts DEFAULT;
-- A tenant's log by time; a delivery's attempts; one attempt by id. (A
-- destination's attempts are a tenant's, filtered: at most a few dozen
-- destinations per tenant.)
CREATE INDEX attempts_tenant_time ON outbound.attempts (tenant_id, time DESC, id DESC);
CREATE INDEX attempts_event ON outbound.attempts (event_id, destination_id, attempt_number);
CREATE INDEX attempts_id ON outbound.attempts (id);

-- Workers that are running. A worker marks itself idle just before it waits
-- for a notification; publishers only READ this table, and notify only when
-- some worker is idle. A NOTIFY takes a cluster-wide lock at commit, so
-- notifying in every publishing transaction would serialise all publishers;
-- while workers are busy they poll the queue anyway.
CREATE TABLE outbound.workers (
    id           text PRIMARY KEY,
    idle         boolean NOT NULL DEFAULT false,
    hostname     text,
    pid          integer,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- The document a destination filter is matched against.
CREATE FUNCTION outbound.envelope(id text, topic text, "time" timestamptz, metadata jsonb, data json)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'id', id,
        'topic', topic,
        'time', to_char("time" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'metadata', metadata,
        'data', data::jsonb)
$$;

-- Fan-out: one set-based statement per INSERT statement on events, whatever
-- its row count (VALUES, INSERT ... SELECT, COPY).
--
-- The filter envelope (which parses `data` as jsonb) is built at most once
-- per event, and only when the tenant has an enabled filtered destination:
-- the MATERIALIZED CTE keeps the planner from re-evaluating it per
-- (event, destination) pair. JIT is off for this function: the planner's
-- row estimates for a transition table can cross the JIT threshold, and
-- compiling costs far more than these statements take to run.
CREATE FUNCTION outbound.fan_out() RETURNS trigger
LANGUAGE plpgsql
SET jit = off
AS $$
DECLARE
    unknown_tenant text;
BEGIN
    SELECT n.tenant_id INTO unknown_tenant
    FROM new_events n
    WHERE NOT EXISTS (SELECT 1 FROM outbound.tenants t WHERE t.id = n.tenant_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'outbound: tenant "%" does not exist', unknown_tenant
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'create the tenant first (PUT /api/v1/tenants/{id} or INSERT INTO outbound.tenants)';
    END IF;

    -- Raises unique_violation on event_id_unique for an id seen before.
    INSERT INTO outbound.event_ids (id, time) SELECT n.id, n.time FROM new_events n;

    WITH n AS MATERIALIZED (
        SELECT n.id, n.tenant_id, n.topic, n.time, n.eligible_for_retry, n.destination_id,
               CASE WHEN EXISTS (SELECT 1 FROM outbound.destinations f
                                 WHERE f.tenant_id = n.tenant_id AND f.disabled_at IS NULL
                                   AND f.filter_path IS NOT NULL)
                    THEN outbound.envelope(n.id, n.topic, n.time, n.metadata, n.data)
               END AS envelope
        FROM new_events n
    )
    INSERT INTO outbound.deliveries (event_id, destination_id, tenant_id, event_time, retry, next_attempt_at)
    SELECT n.id, d.id, n.tenant_id, n.time, n.eligible_for_retry, now()
    FROM n
    JOIN outbound.destinations d
      ON d.tenant_id = n.tenant_id
     AND d.disabled_at IS NULL
     AND d.topics && ARRAY['*', n.topic]
     AND (n.destination_id IS NULL OR d.id = n.destination_id)
     AND (d.filter_path IS NULL OR jsonb_path_match(n.envelope, d.filter_path, '{}', true));

    IF FOUND AND EXISTS (SELECT 1 FROM outbound.workers WHERE idle) THEN
        PERFORM pg_notify('outbound_deliveries', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER fan_out
    AFTER INSERT ON outbound.events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT
    EXECUTE FUNCTION outbound.fan_out();

-- Publish one event; answers the event id, whether it was a duplicate of an
-- id already accepted (then nothing is delivered again), and the matched
-- destinations.
CREATE FUNCTION outbound.publish(
    tenant_id          text,
    topic              text,
    data               json,
    id                 text DEFAULT NULL,
    metadata           jsonb DEFAULT NULL,
    "time"             timestamptz DEFAULT NULL,
    eligible_for_retry boolean DEFAULT true,
    destination_id     text DEFAULT NULL)
RETURNS TABLE (event_id text, duplicate boolean, destination_ids text[])
LANGUAGE plpgsql
AS $$
DECLARE
    v_id text := coalesce(publish.id, gen_random_uuid()::text);
    v_constraint text;
BEGIN
    IF EXISTS (SELECT 1 FROM outbound.event_ids x WHERE x.id = v_id) THEN
        RETURN QUERY SELECT v_id, true, ARRAY[]::text[];
        RETURN;
    END IF;
    BEGIN
        INSERT INTO outbound.events AS e
            (id, tenant_id, topic, data, metadata, time, eligible_for_retry, destination_id)
        VALUES (v_id, publish.tenant_id, publish.topic, publish.data,
                coalesce(publish.metadata, '{}'::jsonb), coalesce(publish."time", now()),
                coalesce(publish.eligible_for_retry, true), publish.destination_id);
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent publish of the same id committed first.
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        IF v_constraint IS DISTINCT FROM 'event_id_unique' THEN
            RAISE;
        END IF;
        RETURN QUERY SELECT v_id, true, ARRAY[]::text[];
        RETURN;
    END;
    RETURN QUERY
        SELECT v_id, false, coalesce(array_agg(d.destination_id ORDER BY d.destination_id), ARRAY[]::text[])
        FROM outbound.deliveries d
        WHERE d.event_id = v_id;
END
$$;

-- Creates the partition of `parent` (events or attempts) for one UTC day if
-- it does not exist. Rows that landed in the default partition for that day
-- move into it. ATTACH takes a weaker lock on the parent than
-- CREATE TABLE ... PARTITION OF, so publishers are not blocked.
CREATE FUNCTION outbound.ensure_partition(parent text, day date) RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    part text := parent || '_p' || to_char(day, 'YYYYMMDD');
    lo   timestamptz := day::timestamp AT TIME ZONE 'UTC';
    hi   timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF parent NOT IN ('events', 'attempts') THEN
        RAISE EXCEPTION 'outbound: % is not a partitioned table', parent;
    END IF;
    IF to_regclass(format('outbound.%I', part)) IS NOT NULL THEN
        RETURN 0;
    END IF;
    EXECUTE format('CREATE TABLE outbound.%I (LIKE outbound.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   part, parent);
    EXECUTE format('WITH moved AS (DELETE FROM outbound.%I WHERE time >= $1 AND time < $2 RETURNING *) '
                   'INSERT INTO outbound.%I SELECT * FROM moved', parent || '_default', part)
        USING lo, hi;
    EXECUTE format('ALTER TABLE outbound.%I ATTACH PARTITION outbound.%I FOR VALUES FROM (%L) TO (%L)',
                   parent, part, lo, hi);
    RETURN 1;
END
$$;

-- Periodic maintenance, safe to call from any number of processes (one runs
-- at a time) and from pg_cron: creates partitions ahead, drops those older
-- than the retention (a partition drop, never a mass DELETE of events), and
-- trims the small side tables.
CREATE FUNCTION outbound.maintain(at timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    s       outbound.settings;
    today   date := (at AT TIME ZONE 'UTC')::date;
    cutoff  timestamptz;
    d       date;
    r       record;
    created integer := 0;
    dropped integer := 0;
    skipped integer := 0;
    ids     bigint;
    orphans bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('outbound.maintain')) THEN
        RETURN jsonb_build_object('ran', false);
    END IF;
    SELECT * INTO s FROM outbound.settings;
    cutoff := at - s.retention;

    FOR d IN SELECT today + k FROM generate_series(-1, s.partitions_ahead) AS k LOOP
        created := created + outbound.ensure_partition('events', d) + outbound.ensure_partition('attempts', d);
    END LOOP;

    -- A partition is dropped once its whole day is older than the cutoff.
    FOR r IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent IN ('outbound.events'::regclass, 'outbound.attempts'::regclass)
          AND c.relname ~ '_p[0-9]{8}$'
          AND (to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff
    LOOP
        BEGIN
            -- Dropping a partition briefly locks its parent; never queue
            -- behind a long reader for long, try again next run instead.
            SET LOCAL lock_timeout = '2s';
            EXECUTE format('DROP TABLE outbound.%I', r.relname);
            dropped := dropped + 1;
        EXCEPTION WHEN lock_not_available THEN
            skipped := skipped + 1;
        END;
    END LOOP;
    SET LOCAL lock_timeout = 0;

    DELETE FROM outbound.events_default WHERE time < cutoff;
    DELETE FROM outbound.attempts_default WHERE time < cutoff;
    DELETE FROM outbound.event_ids WHERE time < cutoff;
    GET DIAGNOSTICS ids = ROW_COUNT;
    -- Deliveries whose event has expired can never be sent.
    DELETE FROM outbound.deliveries WHERE event_time < cutoff;
    GET DIAGNOSTICS orphans = ROW_COUNT;
    -- Workers that stopped heart-beating long ago (killed) leave no idle flag behind.
    DELETE FROM outbound.workers WHERE heartbeat_at < at - interval '10 minutes';

    RETURN jsonb_build_object('ran', true, 'partitions_created', created, 'partitions_dropped', dropped,
                              'partitions_busy', skipped, 'event_ids_expired', ids,
                              'deliveries_expired', orphans);
END
$$;

SELECT outbound.maintain();
