-- Sending follow-ups (and one billing fix at the end): provider rate limits ride on outbox entries (a relay
-- re-push keeps them), the scheduler finds due work across workspaces
-- through an id-only function, cron rules remember their last firing (the
-- conditional update on it is what makes a firing happen once across
-- scheduler replicas), and each workspace caps messages per lead per day.

ALTER TABLE outbox
    ADD COLUMN rate_limit_key    text,
    ADD COLUMN rate_limit_max    integer CHECK (rate_limit_max > 0),
    ADD COLUMN rate_limit_per_ms integer CHECK (rate_limit_per_ms > 0),
    ADD CONSTRAINT outbox_rate_limit_whole
        CHECK ((rate_limit_key IS NULL) = (rate_limit_max IS NULL)
           AND (rate_limit_key IS NULL) = (rate_limit_per_ms IS NULL));

-- Also claims through a materialized CTE: the 0002 version's subquery in
-- FROM could be rescanned per updated row and take more than p_limit.
DROP FUNCTION outbox_claim(integer, interval);
CREATE FUNCTION outbox_claim(p_limit integer, p_stale interval)
    RETURNS TABLE (workspace_id uuid, id uuid, queue text, payload jsonb, dedupe_key text,
                   max_attempts integer, run_at timestamptz, relay_attempts integer,
                   rate_limit_key text, rate_limit_max integer, rate_limit_per_ms integer)
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public
    AS $$
        WITH due AS MATERIALIZED (
            SELECT c.workspace_id, c.id FROM outbox c
            WHERE c.done_at IS NULL AND (c.enqueued_at IS NULL OR c.enqueued_at < now() - p_stale)
            ORDER BY c.enqueued_at NULLS FIRST, c.created_at
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED
        )
        UPDATE outbox o
        SET enqueued_at = now(), relay_attempts = o.relay_attempts + 1
        FROM due
        WHERE o.workspace_id = due.workspace_id AND o.id = due.id
        RETURNING o.workspace_id, o.id, o.queue, o.payload, o.dedupe_key, o.max_attempts, o.run_at,
                  o.relay_attempts, o.rate_limit_key, o.rate_limit_max, o.rate_limit_per_ms
    $$;
REVOKE ALL ON FUNCTION outbox_claim(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_claim(integer, interval) TO frontdesk_app;

-- Email follow-ups need a subject; other channels leave it NULL.
ALTER TABLE followups ADD COLUMN subject text;

-- Due follow-ups across workspaces, oldest first, for the scheduler.
CREATE INDEX followups_due ON followups (due_at, workspace_id) WHERE status = 'scheduled';

-- Follow-ups whose job never settled them (a job lost or discarded while
-- `enqueued`, a worker gone while `sending`): the scheduler reaps them.
CREATE INDEX followups_in_flight ON followups (updated_at, workspace_id) WHERE status IN ('enqueued', 'sending');

-- Workspaces with due (or stranded) follow-ups, the one waiting longest
-- first. Ids only: the scheduler then claims each workspace's rows in its
-- own tenant transaction, under row-level security.
CREATE FUNCTION followups_due_workspaces(p_limit integer, p_stranded interval)
    RETURNS TABLE (workspace_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$
        SELECT d.workspace_id FROM (
            SELECT f.workspace_id, f.due_at AS waiting_since FROM followups f
            WHERE f.status = 'scheduled' AND f.due_at <= now()
            UNION ALL
            SELECT f.workspace_id, f.updated_at FROM followups f
            WHERE f.status IN ('enqueued', 'sending') AND f.updated_at < now() - p_stranded
        ) d
        JOIN workspaces w ON w.id = d.workspace_id AND w.status = 'active'
        LEFT JOIN subscriptions s ON s.workspace_id = d.workspace_id
        -- A lapsed studio's follow-ups wait (the scheduler checks again in
        -- Rust); listing them here would let them crowd out the others.
        WHERE coalesce(s.status, '') NOT IN ('canceled', 'unpaid', 'incomplete_expired', 'paused')
        GROUP BY d.workspace_id
        ORDER BY min(d.waiting_since)
        LIMIT p_limit
    $$;
REVOKE ALL ON FUNCTION followups_due_workspaces(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION followups_due_workspaces(integer, interval) TO frontdesk_app;

ALTER TABLE ai_rules ADD COLUMN last_fired_at timestamptz;

-- Workspaces with enabled cron rules. Ids only, as above.
CREATE FUNCTION cron_rule_workspaces()
    RETURNS TABLE (workspace_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$
        SELECT DISTINCT r.workspace_id FROM ai_rules r
        JOIN workspaces w ON w.id = r.workspace_id AND w.status = 'active'
        WHERE r.kind = 'cron' AND r.enabled
    $$;
REVOKE ALL ON FUNCTION cron_rule_workspaces() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cron_rule_workspaces() TO frontdesk_app;

-- At most this many messages to one lead in any 24 hours (all channels).
ALTER TABLE workspaces ADD COLUMN max_messages_per_lead_per_day integer NOT NULL DEFAULT 3
    CHECK (max_messages_per_lead_per_day BETWEEN 1 AND 50);

-- Outbound messages to a lead, newest first (the frequency cap counts them
-- by when they went out, which a retried send does later than it was created).
ALTER TABLE messages ADD COLUMN sent_at timestamptz;
CREATE INDEX messages_workspace_lead_outbound ON messages (workspace_id, lead_id, created_at DESC)
    WHERE direction = 'outbound';

-- An inbound email's RFC 5322 Message-ID, so a reply can thread under it.
ALTER TABLE messages ADD COLUMN rfc_message_id text;

-- A sequence step happens once per lead; a cron rule fires again and again.
DROP INDEX followups_sequence_step;
CREATE UNIQUE INDEX followups_sequence_step ON followups (workspace_id, lead_id, rule_id, step)
    WHERE rule_id IS NOT NULL AND kind = 'sequence';

-- Stripe timestamps are whole seconds, so two subscription events often
-- share one; within a second the later lifecycle step wins
-- (created < updated < deleted).
ALTER TABLE subscriptions ADD COLUMN last_event_rank smallint NOT NULL DEFAULT 0;
-- Invoice events are ordered among themselves too (a late payment_failed
-- must not undo a newer paid), without ever outranking subscription events.
ALTER TABLE subscriptions ADD COLUMN last_invoice_event_at timestamptz;
