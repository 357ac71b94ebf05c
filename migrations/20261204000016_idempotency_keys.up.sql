-- Idempotency-Key (IETF httpapi draft) for the studio API's POST and PATCH:
-- one row per (workspace, credential, route, key), kept 24 hours. While the
-- first request runs the row is locked (locked_at set, no response); then it
-- holds the first answer, sealed by the vault (an API key is shown once, and
-- its replay must not sit in plain text).
CREATE TABLE idempotency_keys (
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    -- The session or API key that sent it (no foreign key: either table).
    credential_id       uuid NOT NULL,
    -- Method and route template, e.g. `POST /v1/integrations`.
    route               text NOT NULL,
    key                 text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- SHA-256 over the canonical request body: a reused key with another body is refused.
    fingerprint         bytea NOT NULL CHECK (length(fingerprint) = 32),
    locked_at           timestamptz,
    response_status     smallint,
    response_ciphertext bytea,
    response_nonce      bytea,
    response_key_version integer,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, credential_id, route, key),
    CHECK ((response_status IS NULL) = (response_ciphertext IS NULL))
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (workspace_id, expires_at);
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (workspace_id = app_current_workspace())
    WITH CHECK (workspace_id = app_current_workspace());
DO $$ BEGIN
    EXECUTE format('CREATE POLICY owner_maintenance ON idempotency_keys TO %I USING (true) WITH CHECK (true)', current_user);
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO frontdesk_app;
