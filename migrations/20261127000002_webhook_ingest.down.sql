DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_policies WHERE schemaname = 'public' AND policyname = 'owner_maintenance'
    LOOP
        EXECUTE format('DROP POLICY owner_maintenance ON %I', t);
    END LOOP;
END
$$;
ALTER TABLE webhook_events DROP COLUMN IF EXISTS provider_created_at;
DROP INDEX IF EXISTS followups_workspace_lead_kind;
ALTER TABLE followups DROP COLUMN IF EXISTS kind;
DROP FUNCTION IF EXISTS message_status_rank(text);
DROP FUNCTION IF EXISTS outbox_claim(integer, interval);
DROP INDEX IF EXISTS outbox_relay;
DROP INDEX IF EXISTS outbox_pending_dedupe;
DROP FUNCTION IF EXISTS route_webhook(text, text[]);
DROP TABLE IF EXISTS webhook_routes;
