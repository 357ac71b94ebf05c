-- Studio sign-in: users with argon2id passwords, sessions and API keys
-- stored as SHA-256 hashes, and the one function that turns a presented
-- credential into (workspace, user, role, credential id).

-- A user belongs to exactly one workspace, so an email names one account
-- platform-wide (sign-in takes an email and no workspace).
CREATE UNIQUE INDEX users_email_platform ON users (lower(email));
-- One owner per workspace: the owner is who may delete it.
CREATE UNIQUE INDEX users_one_owner ON users (workspace_id) WHERE role = 'owner';
ALTER TABLE users
    -- PHC string (argon2id, its parameters inside); NULL until the user
    -- accepts their invitation and chooses a password.
    ADD COLUMN password_hash text,
    -- SHA-256 of the one-time invitation token (the owner's first sign-in
    -- from `frontdesk workspace create`, or a staff invitation email).
    ADD COLUMN invite_token_hash bytea CHECK (length(invite_token_hash) = 32),
    ADD COLUMN invite_expires_at timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT users_invite_whole CHECK ((invite_token_hash IS NULL) = (invite_expires_at IS NULL));
CREATE UNIQUE INDEX users_invite_token ON users (invite_token_hash) WHERE invite_token_hash IS NOT NULL;

CREATE TABLE sessions (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    user_id         uuid NOT NULL,
    -- SHA-256 of the opaque token; the token itself is never stored.
    token_hash      bytea NOT NULL CHECK (length(token_hash) = 32),
    user_agent      text CHECK (length(user_agent) <= 300),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    -- Written at most once a minute by resolve_credential.
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    PRIMARY KEY (workspace_id, id),
    -- Removing a user ends their sessions at once.
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);
-- Resolving a credential is a lookup across workspaces (the token does not
-- say whose it is), so this unique index does not lead with workspace_id.
CREATE UNIQUE INDEX sessions_token ON sessions (token_hash);
CREATE INDEX sessions_workspace_user ON sessions (workspace_id, user_id, created_at DESC);

-- API keys act for the user who created them, never above that user's
-- current role, and never as owner (deleting the workspace needs a person).
ALTER TABLE api_keys
    ADD COLUMN user_id uuid NOT NULL,
    ADD COLUMN role text NOT NULL DEFAULT 'staff' CHECK (role IN ('admin', 'staff')),
    ADD CONSTRAINT api_keys_user FOREIGN KEY (workspace_id, user_id)
        REFERENCES users (workspace_id, id) ON DELETE CASCADE;
CREATE UNIQUE INDEX api_keys_hash_platform ON api_keys (key_hash);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sessions'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                USING (workspace_id = app_current_workspace())
                WITH CHECK (workspace_id = app_current_workspace())', t);
        EXECUTE format('CREATE POLICY owner_maintenance ON %I TO %I USING (true) WITH CHECK (true)', t, current_user);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO frontdesk_app', t);
    END LOOP;
END
$$;

CREATE FUNCTION role_rank(p_role text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE p_role WHEN 'owner' THEN 3 WHEN 'admin' THEN 2 WHEN 'staff' THEN 1 ELSE 0 END $$;
GRANT EXECUTE ON FUNCTION role_rank(text) TO frontdesk_app;

-- The one lookup that resolves a presented credential: a session token, an
-- API key or an invitation token, by the SHA-256 the api computed. Returns
-- ids and the role only, and nothing for a credential that is unknown,
-- revoked or expired. There is no cache in front of it, so a revocation
-- holds on every api replica from the next request on.
CREATE FUNCTION resolve_credential(p_kind text, p_hash bytea)
    RETURNS TABLE (workspace_id uuid, user_id uuid, role text, credential_id uuid)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_ws uuid;
        v_user uuid;
        v_role text;
        v_id uuid;
        v_used timestamptz;
    BEGIN
        IF p_kind = 'session' THEN
            SELECT s.workspace_id, s.user_id, u.role, s.id, s.last_used_at
              INTO v_ws, v_user, v_role, v_id, v_used
            FROM sessions s
            JOIN users u ON u.workspace_id = s.workspace_id AND u.id = s.user_id
            WHERE s.token_hash = p_hash AND s.revoked_at IS NULL AND s.expires_at > now();
            IF NOT FOUND THEN RETURN; END IF;
            -- At most one write a minute per credential, not one per request.
            IF v_used IS NULL OR v_used < now() - interval '1 minute' THEN
                UPDATE sessions SET last_used_at = now() WHERE sessions.workspace_id = v_ws AND sessions.id = v_id;
            END IF;
        ELSIF p_kind = 'api_key' THEN
            SELECT k.workspace_id, k.user_id,
                   CASE WHEN role_rank(k.role) < role_rank(u.role) THEN k.role ELSE u.role END,
                   k.id, k.last_used_at
              INTO v_ws, v_user, v_role, v_id, v_used
            FROM api_keys k
            JOIN users u ON u.workspace_id = k.workspace_id AND u.id = k.user_id
            WHERE k.key_hash = p_hash AND k.revoked_at IS NULL;
            IF NOT FOUND THEN RETURN; END IF;
            IF v_used IS NULL OR v_used < now() - interval '1 minute' THEN
                UPDATE api_keys SET last_used_at = now() WHERE api_keys.workspace_id = v_ws AND api_keys.id = v_id;
            END IF;
        ELSIF p_kind = 'invitation' THEN
            SELECT u.workspace_id, u.id, u.role, u.id INTO v_ws, v_user, v_role, v_id
            FROM users u
            WHERE u.invite_token_hash = p_hash AND u.invite_expires_at > now();
            IF NOT FOUND THEN RETURN; END IF;
        ELSE
            RETURN;
        END IF;
        RETURN QUERY SELECT v_ws, v_user, v_role, v_id;
    END
    $$;
REVOKE ALL ON FUNCTION resolve_credential(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resolve_credential(text, bytea) TO frontdesk_app;

-- Sign-in names an email, not a workspace. Ids only: the password hash is
-- then read in that workspace's own tenant transaction, under RLS.
CREATE FUNCTION find_user_by_email(p_email text)
    RETURNS TABLE (workspace_id uuid, user_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT u.workspace_id, u.id FROM users u WHERE lower(u.email) = lower(p_email) $$;
REVOKE ALL ON FUNCTION find_user_by_email(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION find_user_by_email(text) TO frontdesk_app;
