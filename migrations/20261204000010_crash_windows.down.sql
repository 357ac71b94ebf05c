DROP INDEX messages_outcome_unknown;
DROP FUNCTION max_fencing_token();
DROP INDEX messages_sending_fence;
DROP FUNCTION outbox_redrive_all();
DROP FUNCTION outbox_mark_verified(uuid[]);
DROP FUNCTION outbox_claim(integer, interval, interval);
-- Restores outbox_claim as migration 0007 defined it.
CREATE FUNCTION outbox_claim(p_limit integer, p_stale interval)
    RETURNS TABLE (workspace_id uuid, id uuid, queue text, payload jsonb, dedupe_key text,
                   max_attempts integer, run_at timestamptz, relay_attempts integer,
                   rate_limit_key text, rate_limit_max integer, rate_limit_per_ms integer,
                   rate_limit_urgent boolean)
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
                  o.relay_attempts, o.rate_limit_key, o.rate_limit_max, o.rate_limit_per_ms,
                  o.rate_limit_urgent
    $$;
REVOKE ALL ON FUNCTION outbox_claim(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_claim(integer, interval) TO frontdesk_app;
ALTER TABLE outbox DROP COLUMN verified_at;
