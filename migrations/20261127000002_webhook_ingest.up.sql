-- Webhook routing, outbox relay and message-status ordering.

-- Which workspace a provider delivery belongs to. route_key is provider
-- specific: Twilio `mss:<MessagingServiceSid>` or `num:<AccountSid>:<To>`,
-- WhatsApp phone_number_id, inbound email recipient, Stripe customer id,
-- Google channel id. Globally unique: one delivery, one workspace.
CREATE TABLE webhook_routes (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    provider        text NOT NULL CHECK (provider IN ('twilio', 'whatsapp', 'email', 'stripe', 'google_calendar')),
    route_key       text NOT NULL,
    integration_id  uuid,
    -- Google channel token; compared in constant time by the api.
    channel_token   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, integration_id) REFERENCES integrations (workspace_id, id) ON DELETE CASCADE
);
-- Routing is the one lookup that must cross workspaces (the request does not
-- say whose it is), so this unique index does not lead with workspace_id.
CREATE UNIQUE INDEX webhook_routes_key ON webhook_routes (provider, route_key);
CREATE INDEX webhook_routes_workspace ON webhook_routes (workspace_id, provider);
ALTER TABLE webhook_routes ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_routes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_routes
    USING (workspace_id = app_current_workspace())
    WITH CHECK (workspace_id = app_current_workspace());
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_routes TO frontdesk_app;

-- Resolves a delivery to its workspace. Keys are tried in order (Twilio:
-- messaging service first, then account + number). Returns ids only.
CREATE FUNCTION route_webhook(p_provider text, p_keys text[])
    RETURNS TABLE (workspace_id uuid, integration_id uuid, channel_token text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$
        SELECT r.workspace_id, r.integration_id, r.channel_token
        FROM webhook_routes r
        WHERE r.provider = p_provider AND r.route_key = ANY (p_keys)
        ORDER BY array_position(p_keys, r.route_key)
        LIMIT 1
    $$;
REVOKE ALL ON FUNCTION route_webhook(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION route_webhook(text, text[]) TO frontdesk_app;

-- Coalescing: at most one pending outbox entry per dedupe key (a burst of
-- Google pushes becomes one calendar sync).
CREATE UNIQUE INDEX outbox_pending_dedupe ON outbox (workspace_id, dedupe_key)
    WHERE done_at IS NULL AND dedupe_key IS NOT NULL;
-- The relay scans pending entries across workspaces, oldest first.
CREATE INDEX outbox_relay ON outbox (enqueued_at NULLS FIRST, created_at) WHERE done_at IS NULL;

-- Claims entries to (re-)push: never pushed, or pushed and not done within
-- p_stale. SKIP LOCKED lets several relays run at once.
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

-- Provider status callbacks arrive out of order; a status only ever moves
-- to a higher rank. Terminal failures rank with delivery.
CREATE FUNCTION message_status_rank(status text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT CASE status
            WHEN 'received' THEN 0 WHEN 'queued' THEN 1 WHEN 'sending' THEN 2
            WHEN 'sent' THEN 3 WHEN 'sent_sandbox' THEN 3
            WHEN 'delivered' THEN 4 WHEN 'undelivered' THEN 4 WHEN 'failed' THEN 4
            WHEN 'read' THEN 5 ELSE -1 END
    $$;
GRANT EXECUTE ON FUNCTION message_status_rank(text) TO frontdesk_app;

-- Missed-call text-backs are followups with this kind of template.
ALTER TABLE followups ADD COLUMN kind text NOT NULL DEFAULT 'sequence'
    CHECK (kind IN ('sequence', 'missed_call', 'cron', 'manual'));
CREATE INDEX followups_workspace_lead_kind ON followups (workspace_id, lead_id, kind, created_at DESC);

-- Stripe customers map to workspaces through webhook_routes; the event
-- timestamp orders out-of-order deliveries.
ALTER TABLE webhook_events ADD COLUMN provider_created_at timestamptz;

-- FORCE ROW LEVEL SECURITY binds the table owner too. The SECURITY DEFINER
-- functions above run as the owner and must see every workspace, so the
-- owner (the migrating role) gets a policy of its own. The runtime role is
-- not the owner and is not covered by it.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relforcerowsecurity
    LOOP
        EXECUTE format('CREATE POLICY owner_maintenance ON %I TO %I USING (true) WITH CHECK (true)', t, current_user);
    END LOOP;
END
$$;
