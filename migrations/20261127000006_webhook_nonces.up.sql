-- Mailgun signs (timestamp, token) but not the recipient, so a captured
-- signed triple could be replayed to another studio's address within the
-- freshness window. Each token is claimed once, platform-wide, by the first
-- workspace it was delivered to, in that delivery's own transaction (a
-- failed delivery releases it by rolling back).
CREATE TABLE webhook_nonces (
    provider        text NOT NULL,
    nonce           text NOT NULL,
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    seen_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, nonce)
);
CREATE INDEX webhook_nonces_seen ON webhook_nonces (seen_at);
CREATE INDEX webhook_nonces_workspace ON webhook_nonces (workspace_id);
-- A tenant table like the others (a workspace sees its own claims); the
-- function below is the only thing that looks across workspaces.
ALTER TABLE webhook_nonces ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_nonces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_nonces
    USING (workspace_id = app_current_workspace())
    WITH CHECK (workspace_id = app_current_workspace());
DO $$ BEGIN
    EXECUTE format('CREATE POLICY owner_maintenance ON webhook_nonces TO %I USING (true) WITH CHECK (true)', current_user);
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_nonces TO frontdesk_app;

-- Claims `p_nonce` for the caller's workspace. True when this workspace
-- holds it: it presented it first, or presents it again (a provider retry).
-- Returns no other workspace's id, and takes no retention from the caller:
-- claims are kept a day (far past the signature's freshness window), and a
-- few expired ones are removed per call, skipping rows other calls hold.
CREATE FUNCTION claim_webhook_nonce(p_provider text, p_nonce text)
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        me uuid := app_current_workspace();
        owner_id uuid;
    BEGIN
        IF me IS NULL THEN
            RAISE EXCEPTION 'claim_webhook_nonce needs a tenant transaction';
        END IF;
        DELETE FROM webhook_nonces WHERE ctid IN (
            SELECT ctid FROM webhook_nonces
            WHERE provider = p_provider AND seen_at < now() - interval '1 day'
            LIMIT 100 FOR UPDATE SKIP LOCKED);
        INSERT INTO webhook_nonces (provider, nonce, workspace_id)
        VALUES (p_provider, p_nonce, me)
        ON CONFLICT (provider, nonce) DO NOTHING;
        SELECT workspace_id INTO owner_id FROM webhook_nonces WHERE provider = p_provider AND nonce = p_nonce;
        RETURN owner_id = me;
    END
    $$;
REVOKE ALL ON FUNCTION claim_webhook_nonce(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_webhook_nonce(text, text) TO frontdesk_app;
