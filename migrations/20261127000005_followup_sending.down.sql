ALTER TABLE subscriptions DROP COLUMN last_invoice_event_at;
ALTER TABLE subscriptions DROP COLUMN last_event_rank;
DROP INDEX followups_sequence_step;
-- Campaign follow-ups keep their history; they just lose the rule link the
-- old index could not tell apart from sequence steps.
UPDATE followups SET rule_id = NULL WHERE kind = 'cron';
CREATE UNIQUE INDEX followups_sequence_step ON followups (workspace_id, lead_id, rule_id, step)
    WHERE rule_id IS NOT NULL;
ALTER TABLE messages DROP COLUMN rfc_message_id;
DROP INDEX messages_workspace_lead_outbound;
ALTER TABLE messages DROP COLUMN sent_at;
ALTER TABLE workspaces DROP COLUMN max_messages_per_lead_per_day;
DROP FUNCTION cron_rule_workspaces();
ALTER TABLE ai_rules DROP COLUMN last_fired_at;
DROP FUNCTION followups_due_workspaces(integer, interval);
DROP INDEX followups_in_flight;
DROP INDEX followups_due;
ALTER TABLE followups DROP COLUMN subject;

DROP FUNCTION outbox_claim(integer, interval);
CREATE FUNCTION outbox_claim(p_limit integer, p_stale interval)
    RETURNS TABLE (workspace_id uuid, id uuid, queue text, payload jsonb, dedupe_key text,
                   max_attempts integer, run_at timestamptz, relay_attempts integer)
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public
    AS $$
        UPDATE outbox o
        SET enqueued_at = now(), relay_attempts = o.relay_attempts + 1
        FROM (
            SELECT c.workspace_id, c.id FROM outbox c
            WHERE c.done_at IS NULL AND (c.enqueued_at IS NULL OR c.enqueued_at < now() - p_stale)
            ORDER BY c.enqueued_at NULLS FIRST, c.created_at
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED
        ) due
        WHERE o.workspace_id = due.workspace_id AND o.id = due.id
        RETURNING o.workspace_id, o.id, o.queue, o.payload, o.dedupe_key, o.max_attempts, o.run_at, o.relay_attempts
    $$;
REVOKE ALL ON FUNCTION outbox_claim(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_claim(integer, interval) TO frontdesk_app;

ALTER TABLE outbox
    DROP CONSTRAINT outbox_rate_limit_whole,
    DROP COLUMN rate_limit_per_ms,
    DROP COLUMN rate_limit_max,
    DROP COLUMN rate_limit_key;
