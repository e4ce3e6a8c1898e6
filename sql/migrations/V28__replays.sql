-- V28: bulk replay ("recover") of a time range (issue 26, item 1).
--
-- A replay re-queues, for one destination or for every destination of a
-- tenant, the events of a time range that were sent there before:
-- optionally only those whose last attempt failed, optionally only some
-- topics. It runs in the database, in steps (outbound.replay_step()), each
-- its own short transaction that takes the next batch of events after the
-- replay's cursor, queues their deliveries and moves the cursor on. The
-- workers drive the steps (src/delivery/replays.rs); anyone may, from SQL.
--
-- What it queues goes through the claim like any delivery (fair caps,
-- rate limit, circuit breaker). A step queues more only while fewer than a
-- batch of the replay's deliveries still wait for their first attempt, so
-- a replay follows the pace its destinations take deliveries at, instead
-- of pouring the whole range into the queue; and cancelling it has
-- something left to cancel.

CREATE TYPE outbound.replay_state AS ENUM ('running', 'finished', 'cancelled', 'failed');

CREATE TABLE outbound.replays (
    tenant_id            text NOT NULL REFERENCES outbound.tenants (id) ON DELETE CASCADE,
    id                   text NOT NULL
                         CONSTRAINT replays_id_format CHECK (id ~ '^[A-Za-z0-9_.:@+-]{1,255}$'),
    -- NULL: every destination of the tenant that the event was sent to.
    -- No foreign key: the replay's record outlives the destination (a
    -- replay whose destination is deleted ends `failed`).
    destination_id       text,
    -- Events with start_time <= time < end_time.
    start_time           timestamptz NOT NULL,
    end_time             timestamptz NOT NULL,
    -- Only (event, destination) pairs whose last attempt failed.
    failed_only          boolean NOT NULL DEFAULT true,
    -- The topics as asked for (names or `*` patterns; NULL = every topic),
    -- and as the LIKE patterns the steps match events with.
    topics               text[],
    topic_patterns       text[],
    state                outbound.replay_state NOT NULL DEFAULT 'running',
    -- Why a replay ended `failed`.
    error                text,
    -- Every event of the range has been looked at; the replay finishes
    -- when what it queued has all been attempted once.
    scanned              boolean NOT NULL DEFAULT false,
    -- The last event looked at, by (time, id): the next step starts after it.
    cursor_time          timestamptz NOT NULL,
    cursor_id            text NOT NULL DEFAULT '',
    events_scanned       bigint NOT NULL DEFAULT 0,
    -- Deliveries queued (to be sent now), queued held (their destination
    -- is disabled), skipped (one was already queued for that event and
    -- destination), and removed unsent by a cancel.
    deliveries_queued    bigint NOT NULL DEFAULT 0,
    deliveries_held      bigint NOT NULL DEFAULT 0,
    deliveries_skipped   bigint NOT NULL DEFAULT 0,
    deliveries_cancelled bigint NOT NULL DEFAULT 0,
    -- Who asked: 'admin' or 'tenant' through the API, 'sql:<role>' from SQL.
    requested_by         text NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    finished_at          timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT replays_range CHECK (end_time > start_time),
    CONSTRAINT replays_topics_listed CHECK (topics IS NULL OR cardinality(topics) > 0),
    CONSTRAINT replays_finished_iff_ended CHECK ((state = 'running') = (finished_at IS NULL))
);
-- A tenant's replays, newest first.
CREATE INDEX replays_tenant_created ON outbound.replays (tenant_id, created_at DESC, id DESC);
-- The replays the workers step.
CREATE INDEX replays_running ON outbound.replays (created_at) WHERE state = 'running';

-- A delivery queued by a replay names it, so that the replay can pace
-- itself (how many still wait for their first attempt) and a cancel can
-- take back what it queued and was not sent yet. retry_base is the attempt
-- number the delivery had reached before it was queued again: the retry
-- schedule counts the attempts after it (src/delivery/attempt.rs), so a
-- replayed delivery gets its destination's retries afresh, while its
-- attempts keep their numbers in the log (last + 1, …). Both are the
-- defaults (NULL, 0) for everything else, and only replayed rows are in
-- the index.
ALTER TABLE outbound.deliveries
    ADD COLUMN replay_id text,
    ADD COLUMN retry_base integer NOT NULL DEFAULT 0;
CREATE INDEX deliveries_replay ON outbound.deliveries (tenant_id, replay_id)
    WHERE replay_id IS NOT NULL;

-- Starts a replay; the workers run its steps. Checks what it is given and
-- raises with the field's name (the API answers 422 with the message):
-- the range's order, a start within the retention, the destination.
CREATE FUNCTION outbound.replay(
    tenant_id      text,
    start_time     timestamptz,
    end_time       timestamptz DEFAULT NULL,
    destination_id text DEFAULT NULL,
    failed_only    boolean DEFAULT true,
    topics         text[] DEFAULT NULL,
    requested_by   text DEFAULT NULL,
    id             text DEFAULT NULL,
    at             timestamptz DEFAULT NULL)
RETURNS outbound.replays
LANGUAGE plpgsql
AS $$
DECLARE
    v_at        timestamptz := coalesce(replay.at, now());
    v_end       timestamptz := coalesce(replay.end_time, coalesce(replay.at, now()));
    v_retention interval;
    v_topics    text[] := replay.topics;
    v_patterns  text[];
    r           outbound.replays;
BEGIN
    IF replay.start_time IS NULL THEN
        RAISE EXCEPTION 'start: is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_end <= replay.start_time THEN
        RAISE EXCEPTION 'end: % is not after start (%)',
                to_char(v_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                to_char(replay.start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT s.retention INTO v_retention FROM outbound.settings s;
    IF replay.start_time < v_at - v_retention THEN
        RAISE EXCEPTION 'start: % is older than the retention (%): those events are gone; the earliest start is %',
                to_char(replay.start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                v_retention,
                to_char((v_at - v_retention) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM outbound.tenants t WHERE t.id = replay.tenant_id) THEN
        RAISE EXCEPTION 'tenant "%" does not exist', replay.tenant_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF replay.destination_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM outbound.destinations d
                       WHERE d.tenant_id = replay.tenant_id AND d.id = replay.destination_id) THEN
        RAISE EXCEPTION 'destination_id: tenant "%" has no destination "%"',
                replay.tenant_id, replay.destination_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF v_topics IS NOT NULL AND (cardinality(v_topics) = 0
                                 OR EXISTS (SELECT 1 FROM unnest(v_topics) t WHERE coalesce(t, '') = '')) THEN
        RAISE EXCEPTION 'topics: list at least one topic, and no empty one (or leave topics out for every topic)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- `*` among the topics is every topic.
    IF '*' = ANY (v_topics) THEN
        v_topics := NULL;
    END IF;
    -- `*` → `%`, LIKE's own wildcards and escape character escaped (as V19
    -- does for subscriptions): a plain name matches itself. (Computed
    -- apart: Citus takes no subquery in an INSERT's VALUES.)
    SELECT array_agg(replace(replace(replace(replace(t, '\', '\\'), '%', '\%'), '_', '\_'), '*', '%'))
    INTO v_patterns
    FROM unnest(v_topics) AS t;

    INSERT INTO outbound.replays AS x
        (tenant_id, id, destination_id, start_time, end_time, failed_only, topics, topic_patterns,
         cursor_time, requested_by, created_at, updated_at)
    VALUES (replay.tenant_id,
            coalesce(replay.id, 'rpl_' || replace(gen_random_uuid()::text, '-', '')),
            replay.destination_id, replay.start_time, v_end, coalesce(replay.failed_only, true),
            v_topics, v_patterns, replay.start_time,
            coalesce(replay.requested_by, 'sql:' || session_user),
            v_at, v_at)
    RETURNING * INTO r;
    RETURN r;
END
$$;

-- Queues a replay's deliveries: one per (event, destination) pair given,
-- in that order, unless one is already queued for the pair (then it is
-- skipped: the delivery in the queue goes out anyway). This is the one
-- statement that queues for a replay.
--
-- A delivery is queued as a manual one (`manual`: asked for by a person,
-- as POST /retry) numbered after the pair's last attempt, with retry_base
-- at that number so that its retries are the destination's, afresh. It
-- is due now, a microsecond after the one before, so the claim takes them
-- oldest event first, through the fair caps and the rate limit as usual.
-- A disabled destination gets its deliveries held, as the fan-out does
-- (V15): they go when it is enabled, or are discarded if the tenant says
-- so. Returns how many were queued, queued held, and skipped.
CREATE FUNCTION outbound.replay_enqueue(
    p_tenant_id       text,
    p_replay_id       text,
    p_event_ids       text[],
    p_event_times     timestamptz[],
    p_destination_ids text[],
    p_last_attempts   integer[],
    p_retry           boolean[],
    p_at              timestamptz)
RETURNS TABLE (queued bigint, held bigint, skipped bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    n_pending bigint;
    n_held    bigint;
BEGIN
    -- Only where one of the destinations orders its deliveries does the
    -- statement read their lanes (V26); the other one is V28's as it was
    -- (and the only one Citus, where ordering is refused, ever plans).
    IF EXISTS (SELECT 1 FROM outbound.destinations d
               WHERE d.tenant_id = p_tenant_id AND d.id = ANY (p_destination_ids)
                 AND d.delivery_policy ? 'ordering') THEN
        WITH input AS (
            SELECT u.*
            FROM unnest(p_event_ids, p_event_times, p_destination_ids, p_last_attempts, p_retry)
                 WITH ORDINALITY AS u(event_id, event_time, destination_id, last_attempt, retry, k)
        ), inserted AS (
            -- An ordered destination's go in its lanes (V26), as the fan-out
            -- queues them: numbered in the replay's order (the events', by
            -- time), and sequenced by the workers' pass.
            INSERT INTO outbound.deliveries AS q
                (event_id, destination_id, tenant_id, event_time, state, attempts, next_attempt_at,
                 retry, manual, replay_id, retry_base, position, lane)
            SELECT i.event_id, d.id, d.tenant_id, i.event_time,
                   CASE WHEN d.disabled_at IS NOT NULL THEN 'held'
                        WHEN d.delivery_policy ? 'ordering' THEN 'queued'
                        ELSE 'pending' END::outbound.delivery_state,
                   i.last_attempt, p_at + i.k * interval '1 microsecond',
                   i.retry, true, p_replay_id, i.last_attempt,
                   CASE WHEN d.delivery_policy ? 'ordering'
                        THEN nextval('outbound.delivery_positions') END,
                   CASE WHEN d.delivery_policy ? 'ordering'
                        THEN (SELECT outbound.lane_of(
                                         outbound.envelope(e.id, e.topic, e.time, e.metadata, e.data),
                                         d.delivery_policy #>> '{ordering,key}')
                              FROM outbound.events e
                              WHERE e.tenant_id = p_tenant_id AND e.id = i.event_id
                                AND e.time = i.event_time)
                   END
            FROM input i
            JOIN outbound.destinations d ON d.tenant_id = p_tenant_id AND d.id = i.destination_id
            ORDER BY i.k
            ON CONFLICT (tenant_id, event_id, destination_id) DO NOTHING
            RETURNING q.state
        )
        SELECT count(*) FILTER (WHERE state IN ('pending', 'queued')),
               count(*) FILTER (WHERE state = 'held')
        INTO n_pending, n_held
        FROM inserted;
    ELSE
        WITH input AS (
            SELECT u.*
            FROM unnest(p_event_ids, p_event_times, p_destination_ids, p_last_attempts, p_retry)
                 WITH ORDINALITY AS u(event_id, event_time, destination_id, last_attempt, retry, k)
        ), inserted AS (
            INSERT INTO outbound.deliveries AS q
                (event_id, destination_id, tenant_id, event_time, state, attempts, next_attempt_at,
                 retry, manual, replay_id, retry_base)
            SELECT i.event_id, d.id, d.tenant_id, i.event_time,
                   CASE WHEN d.disabled_at IS NULL THEN 'pending' ELSE 'held' END::outbound.delivery_state,
                   i.last_attempt, p_at + i.k * interval '1 microsecond',
                   i.retry, true, p_replay_id, i.last_attempt
            FROM input i
            JOIN outbound.destinations d ON d.tenant_id = p_tenant_id AND d.id = i.destination_id
            ORDER BY i.k
            ON CONFLICT (tenant_id, event_id, destination_id) DO NOTHING
            RETURNING q.state
        )
        SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'held')
        INTO n_pending, n_held
        FROM inserted;
    END IF;

    -- The wake-up latch (V14), where workers LISTEN (not on Citus).
    IF n_pending > 0 AND (SELECT s.notify FROM outbound.settings s)
       AND EXISTS (SELECT 1 FROM outbound.workers WHERE idle) THEN
        UPDATE outbound.workers w SET idle = false
        FROM (SELECT id FROM outbound.workers WHERE idle FOR UPDATE SKIP LOCKED) s
        WHERE w.id = s.id;
        PERFORM pg_notify('outbound_deliveries', '');
    END IF;

    RETURN QUERY SELECT n_pending, n_held,
                        coalesce(cardinality(p_event_ids), 0) - n_pending - n_held;
END
$$;

-- One step of a replay, in the caller's transaction (one step per
-- transaction: the row stays locked until it commits). Returns the
-- replay as the step left it, or NULL when another step holds it (or it
-- does not exist): the row is locked SKIP LOCKED, so any number of
-- workers may call this at once and never run the same step twice.
--
-- A step does nothing while a batch of the replay's deliveries still wait
-- for their first attempt (pending, parked or leased: held ones wait for
-- their destination, not for the workers). Otherwise it takes the next
-- `batch` events of the range after the cursor (events_tenant_time, in
-- order), finds for each the destinations it was sent to, with the last
-- attempt there (attempts_event, one probe per event), keeps the pairs
-- asked for (the replay's destination; a failed last attempt when
-- failed_only; a destination that still exists and still matches the
-- event's topic and filter), queues them (outbound.replay_enqueue()) and
-- moves the cursor past the batch. A batch shorter than `batch` was the
-- last: the replay has scanned its range, and finishes once nothing it
-- queued waits for a first attempt.
--
-- A cancelled replay's step takes back what it queued and was being sent
-- at the cancel (the cancel left those rows alone): each such delivery is
-- removed once its attempt is recorded, instead of being retried.
CREATE FUNCTION outbound.replay_step(
    p_tenant_id text,
    p_id        text,
    p_batch     integer DEFAULT 500,
    p_at        timestamptz DEFAULT NULL)
RETURNS outbound.replays
LANGUAGE plpgsql
SET jit = off
AS $$
DECLARE
    v_at      timestamptz := coalesce(p_at, now());
    r         outbound.replays;
    v_waiting bigint;
    v_n       bigint;
    v_last_t  timestamptz;
    v_last_id text;
    c_events  text[];
    c_times   timestamptz[];
    c_dests   text[];
    c_last    integer[];
    c_retry   boolean[];
    q         record;
    n_taken   bigint;
BEGIN
    SELECT * INTO r FROM outbound.replays x
    WHERE x.tenant_id = p_tenant_id AND x.id = p_id
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF r.state = 'cancelled' THEN
        DELETE FROM outbound.deliveries d
        WHERE d.tenant_id = p_tenant_id AND d.replay_id = p_id AND d.state <> 'leased';
        GET DIAGNOSTICS n_taken = ROW_COUNT;
        IF n_taken > 0 THEN
            UPDATE outbound.replays x
            SET deliveries_cancelled = x.deliveries_cancelled + n_taken, updated_at = v_at
            WHERE x.tenant_id = p_tenant_id AND x.id = p_id
            RETURNING * INTO r;
        END IF;
        RETURN r;
    END IF;
    IF r.state <> 'running' THEN
        RETURN r;
    END IF;

    SELECT count(*) INTO v_waiting
    FROM (SELECT 1 FROM outbound.deliveries d
          WHERE d.tenant_id = p_tenant_id AND d.replay_id = p_id
            AND d.state <> 'held' AND d.attempts = d.retry_base
          LIMIT p_batch) w;

    IF r.scanned OR v_waiting >= p_batch THEN
        IF r.scanned AND v_waiting = 0 THEN
            UPDATE outbound.replays x
            SET state = 'finished', finished_at = v_at, updated_at = v_at
            WHERE x.tenant_id = p_tenant_id AND x.id = p_id
            RETURNING * INTO r;
        END IF;
        RETURN r;
    END IF;

    IF r.destination_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM outbound.destinations d
                       WHERE d.tenant_id = p_tenant_id AND d.id = r.destination_id) THEN
        UPDATE outbound.replays x
        SET state = 'failed', finished_at = v_at, updated_at = v_at,
            error = format('destination %s was deleted', r.destination_id)
        WHERE x.tenant_id = p_tenant_id AND x.id = p_id
        RETURNING * INTO r;
        RETURN r;
    END IF;

    WITH batch AS MATERIALIZED (
        -- The next events of the range, by (time, id), after the cursor:
        -- a walk of events_tenant_time from the cursor on.
        SELECT e.id, e.time, e.topic, e.metadata, e.data, e.eligible_for_retry
        FROM outbound.events e
        WHERE e.tenant_id = p_tenant_id
          AND e.time >= r.start_time AND e.time < r.end_time
          AND (e.time, e.id) > (r.cursor_time, r.cursor_id)
          AND (r.topic_patterns IS NULL OR e.topic LIKE ANY (r.topic_patterns))
        ORDER BY e.time, e.id
        LIMIT p_batch
    ), pairs AS (
        SELECT b.id AS event_id, b.time AS event_time, b.eligible_for_retry AS retry,
               l.destination_id, l.attempt_number
        FROM batch b
        CROSS JOIN LATERAL (
            -- Where the event was sent, and the last attempt there.
            SELECT DISTINCT ON (a.destination_id) a.destination_id, a.attempt_number, a.status
            FROM outbound.attempts a
            WHERE a.tenant_id = p_tenant_id AND a.event_id = b.id
              AND (r.destination_id IS NULL OR a.destination_id = r.destination_id)
            ORDER BY a.destination_id, a.attempt_number DESC
        ) l
        JOIN outbound.destinations d ON d.tenant_id = p_tenant_id AND d.id = l.destination_id
        WHERE (NOT r.failed_only OR l.status = 'failed')
          -- The destination still takes the event: topic and filter, as
          -- the fan-out decides (and destinations/matches_event.sql).
          AND (d.topics && ARRAY['*', b.topic] OR b.topic IN ('', '*')
               OR coalesce(b.topic LIKE ANY (d.topic_patterns), false))
          AND (d.filter_path IS NULL
               OR coalesce(jsonb_path_match(outbound.envelope(b.id, b.topic, b.time, b.metadata, b.data),
                                            d.filter_path, '{}', true), false))
    )
    SELECT (SELECT count(*) FROM batch),
           (SELECT time FROM batch ORDER BY time DESC, id DESC LIMIT 1),
           (SELECT id FROM batch ORDER BY time DESC, id DESC LIMIT 1),
           array_agg(p.event_id ORDER BY p.event_time, p.event_id, p.destination_id),
           array_agg(p.event_time ORDER BY p.event_time, p.event_id, p.destination_id),
           array_agg(p.destination_id ORDER BY p.event_time, p.event_id, p.destination_id),
           array_agg(p.attempt_number ORDER BY p.event_time, p.event_id, p.destination_id),
           array_agg(p.retry ORDER BY p.event_time, p.event_id, p.destination_id)
    INTO v_n, v_last_t, v_last_id, c_events, c_times, c_dests, c_last, c_retry
    FROM pairs p;

    IF cardinality(c_events) > 0 THEN
        SELECT * INTO q
        FROM outbound.replay_enqueue(p_tenant_id, p_id, c_events, c_times, c_dests, c_last, c_retry, v_at);
    ELSE
        SELECT 0::bigint AS queued, 0::bigint AS held, 0::bigint AS skipped INTO q;
    END IF;

    UPDATE outbound.replays x
    SET cursor_time = coalesce(v_last_t, x.cursor_time),
        cursor_id = coalesce(v_last_id, x.cursor_id),
        scanned = v_n < p_batch,
        events_scanned = x.events_scanned + v_n,
        deliveries_queued = x.deliveries_queued + q.queued,
        deliveries_held = x.deliveries_held + q.held,
        deliveries_skipped = x.deliveries_skipped + q.skipped,
        updated_at = v_at
    WHERE x.tenant_id = p_tenant_id AND x.id = p_id
    RETURNING * INTO r;
    RETURN r;
END
$$;

-- Cancels a running replay: it queues nothing more, and what it queued
-- and was not sent yet is removed (a delivery being sent right now is
-- removed by the next step once its attempt is recorded, see
-- replay_step()). Those deliveries are as they were before the replay:
-- their last attempt is the one that was there. Returns the replay (as it
-- is, when it was not running), or NULL when there is none.
CREATE FUNCTION outbound.replay_cancel(p_tenant_id text, p_id text, p_at timestamptz DEFAULT NULL)
RETURNS outbound.replays
LANGUAGE plpgsql
AS $$
DECLARE
    v_at    timestamptz := coalesce(p_at, now());
    r       outbound.replays;
    n_taken bigint;
BEGIN
    -- Waits for a step in progress (a short transaction) to commit.
    UPDATE outbound.replays x
    SET state = 'cancelled', finished_at = v_at, updated_at = v_at
    WHERE x.tenant_id = p_tenant_id AND x.id = p_id AND x.state = 'running'
    RETURNING * INTO r;
    IF NOT FOUND THEN
        SELECT * INTO r FROM outbound.replays x WHERE x.tenant_id = p_tenant_id AND x.id = p_id;
        RETURN r;
    END IF;
    DELETE FROM outbound.deliveries d
    WHERE d.tenant_id = p_tenant_id AND d.replay_id = p_id AND d.state <> 'leased';
    GET DIAGNOSTICS n_taken = ROW_COUNT;
    UPDATE outbound.replays x
    SET deliveries_cancelled = n_taken
    WHERE x.tenant_id = p_tenant_id AND x.id = p_id
    RETURNING * INTO r;
    RETURN r;
END
$$;
