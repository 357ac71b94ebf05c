-- Closing the crash windows.
--
-- 1. A committed job whose push died with the api runs in seconds. The api
--    inserts an outbox entry as claimed (enqueued_at = now()) and pushes it
--    after commit. An entry still not done after a short grace is checked
--    against Redis by the relay (verified_at): there, it is left alone;
--    missing, it is pushed. Verified entries are re-pushed only after the
--    long timeout, as before (a job Redis lost).
ALTER TABLE outbox ADD COLUMN verified_at timestamptz;

DROP FUNCTION outbox_claim(integer, interval);
CREATE FUNCTION outbox_claim(p_limit integer, p_stale interval, p_grace interval)
    RETURNS TABLE (workspace_id uuid, id uuid, queue text, payload jsonb, dedupe_key text,
                   max_attempts integer, run_at timestamptz, relay_attempts integer,
                   rate_limit_key text, rate_limit_max integer, rate_limit_per_ms integer,
                   rate_limit_urgent boolean, verified boolean)
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public
    AS $$
        WITH due AS MATERIALIZED (
            SELECT c.workspace_id, c.id FROM outbox c
            WHERE c.done_at IS NULL
              AND (c.enqueued_at IS NULL
                   OR (c.verified_at IS NULL AND c.enqueued_at < now() - p_grace)
                   OR c.enqueued_at < now() - p_stale)
            ORDER BY c.enqueued_at NULLS FIRST, c.created_at
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED
        )
        UPDATE outbox o
        SET enqueued_at = now(), relay_attempts = o.relay_attempts + 1
        FROM due
        WHERE o.workspace_id = due.workspace_id AND o.id = due.id
        RETURNING o.workspace_id, o.id, o.queue, o.payload, o.dedupe_key, o.max_attempts, o.run_at,
                  o.relay_attempts, o.rate_limit_key, o.rate_limit_max, o.rate_limit_per_ms,
                  o.rate_limit_urgent, o.verified_at IS NOT NULL
    $$;
REVOKE ALL ON FUNCTION outbox_claim(integer, interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_claim(integer, interval, interval) TO frontdesk_app;

-- The relay's verdicts, across workspaces (ids only in, nothing out).
CREATE FUNCTION outbox_mark_verified(p_ids uuid[]) RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public
    AS $$ UPDATE outbox SET verified_at = now() WHERE id = ANY(p_ids) AND done_at IS NULL $$;
REVOKE ALL ON FUNCTION outbox_mark_verified(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_mark_verified(uuid[]) TO frontdesk_app;

-- 2. Redis lost its data (a flush, a failover without persistence): every
--    entry not done is pushed again at once, not after the timeout.
CREATE FUNCTION outbox_redrive_all() RETURNS bigint
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public
    AS $$
        WITH redriven AS (
            UPDATE outbox SET enqueued_at = NULL, verified_at = NULL WHERE done_at IS NULL RETURNING 1
        )
        SELECT count(*) FROM redriven
    $$;
REVOKE ALL ON FUNCTION outbox_redrive_all() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_redrive_all() TO frontdesk_app;

-- 3. ... and fencing tokens start above every token Postgres has recorded
--    on a message still `sending` (the only ones a later delivery must
--    beat), so a delivery after the loss still takes over what a dead
--    worker left, instead of being refused as stale.
CREATE INDEX messages_sending_fence ON messages (fencing_token) WHERE status = 'sending';
CREATE FUNCTION max_fencing_token() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$ SELECT COALESCE(max(fencing_token), 0) FROM messages WHERE status = 'sending' $$;
REVOKE ALL ON FUNCTION max_fencing_token() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION max_fencing_token() TO frontdesk_app;

-- 4. Status callbacks and lookups resolve sends left `outcome_unknown`;
--    the reconciler finds them by state.
CREATE INDEX messages_outcome_unknown ON messages (workspace_id, updated_at)
    WHERE status = 'sending' AND error_code = 'outcome_unknown';
