-- frontdesk schema: every tenant table is keyed (workspace_id, id), references
-- other tenant rows through composite foreign keys that include workspace_id,
-- cascades from workspaces, and is guarded by FORCE ROW LEVEL SECURITY on the
-- transaction-local setting app.workspace_id.

-- The runtime role: logs in, owns nothing, is not a superuser and cannot
-- bypass RLS. Roles are cluster-wide, so parallel test databases race to
-- create it; losing that race is fine.
DO $$
BEGIN
    CREATE ROLE frontdesk_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- The workspace of the current transaction, or NULL when none was set (then
-- every policy compares against NULL and no tenant row is visible).
CREATE FUNCTION app_current_workspace() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.workspace_id', true), '')::uuid $$;

CREATE TABLE workspaces (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone            text NOT NULL DEFAULT 'UTC',
    status              text NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'paused', 'suspended')),
    -- Local wall-clock window in `timezone` during which nothing is sent.
    quiet_hours_start   time,
    quiet_hours_end     time,
    booking_link        text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_hours_start IS NULL) = (quiet_hours_end IS NULL))
);

CREATE TABLE users (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    email           text NOT NULL,
    name            text NOT NULL DEFAULT '',
    role            text NOT NULL DEFAULT 'staff' CHECK (role IN ('owner', 'admin', 'staff')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, email)
);

CREATE TABLE subscriptions (
    workspace_id            uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                      uuid NOT NULL,
    stripe_customer_id      text,
    stripe_subscription_id  text,
    status                  text NOT NULL DEFAULT 'trialing'
                            CHECK (status IN ('trialing', 'active', 'past_due', 'canceled', 'unpaid', 'incomplete', 'incomplete_expired', 'paused')),
    plan                    text,
    current_period_end      timestamptz,
    -- Stripe delivers out of order; only an event newer than this one applies.
    last_event_created_at   timestamptz,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id)
);

CREATE TABLE wizard_progress (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    current_step    text NOT NULL DEFAULT 'welcome',
    completed_steps text[] NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id)
);

CREATE TABLE integrations (
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    provider            text NOT NULL
                        CHECK (provider IN ('twilio', 'whatsapp', 'smtp', 'google_calendar', 'openai', 'stripe')),
    mode                text NOT NULL DEFAULT 'live' CHECK (mode IN ('live', 'sandbox')),
    -- Provider-side account identifier (Twilio AccountSid, WhatsApp
    -- phone_number_id, calendar id, ...): public, not secret.
    external_id         text,
    settings            jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- AES-256-GCM; associated data = (workspace_id, provider, key_version).
    secret_ciphertext   bytea,
    secret_nonce        bytea CHECK (secret_nonce IS NULL OR length(secret_nonce) = 12),
    key_version         integer,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    CHECK ((secret_ciphertext IS NULL) = (secret_nonce IS NULL)
       AND (secret_ciphertext IS NULL) = (key_version IS NULL))
);
CREATE INDEX integrations_workspace_provider ON integrations (workspace_id, provider);

CREATE TABLE leads (
    workspace_id            uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                      uuid NOT NULL,
    name                    text,
    phone                   text CHECK (phone IS NULL OR phone ~ '^\+[1-9][0-9]{6,14}$'),
    email                   text,
    source                  text NOT NULL DEFAULT 'unknown',
    status                  text NOT NULL DEFAULT 'new'
                            CHECK (status IN ('new', 'contacted', 'qualified', 'booked', 'member', 'lost')),
    intent                  text,
    temperature             text CHECK (temperature IN ('hot', 'warm', 'cold')),
    score                   smallint CHECK (score BETWEEN 0 AND 100),
    classified_by           text,
    opted_out_sms           boolean NOT NULL DEFAULT false,
    opted_out_whatsapp      boolean NOT NULL DEFAULT false,
    opted_out_email         boolean NOT NULL DEFAULT false,
    last_inbound_at         timestamptz,
    last_inbound_whatsapp_at timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, phone),
    UNIQUE (workspace_id, email)
);
CREATE INDEX leads_workspace_status ON leads (workspace_id, status, updated_at);

CREATE TABLE messages (
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    lead_id             uuid NOT NULL,
    direction           text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    channel             text NOT NULL CHECK (channel IN ('sms', 'whatsapp', 'email')),
    body                text NOT NULL DEFAULT '',
    subject             text,
    provider_message_id text,
    status              text NOT NULL DEFAULT 'received'
                        CHECK (status IN ('received', 'queued', 'sending', 'sent', 'sent_sandbox', 'delivered', 'read', 'undelivered', 'failed')),
    error_code          text,
    -- Outbound sends: one key per intended message; the fencing token of the
    -- job delivery that last moved the state machine.
    idempotency_key     text,
    fencing_token       bigint,
    processed_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, lead_id) REFERENCES leads (workspace_id, id) ON DELETE CASCADE,
    UNIQUE (workspace_id, channel, provider_message_id),
    UNIQUE (workspace_id, idempotency_key)
);
CREATE INDEX messages_workspace_lead ON messages (workspace_id, lead_id, created_at);

CREATE TABLE call_logs (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    lead_id         uuid NOT NULL,
    provider_call_id text NOT NULL,
    direction       text NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'outbound')),
    status          text NOT NULL,
    from_number     text NOT NULL,
    to_number       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, lead_id) REFERENCES leads (workspace_id, id) ON DELETE CASCADE,
    UNIQUE (workspace_id, provider_call_id)
);
CREATE INDEX call_logs_workspace_lead ON call_logs (workspace_id, lead_id, created_at);

CREATE TABLE ai_rules (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    name            text NOT NULL,
    kind            text NOT NULL
                    CHECK (kind IN ('studio_context', 'keyword', 'regex', 'intent_action', 'sequence', 'cron')),
    -- Keyword/regex text, intent name or cron expression, by kind.
    pattern         text,
    config          jsonb NOT NULL DEFAULT '{}'::jsonb,
    priority        integer NOT NULL DEFAULT 100,
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX ai_rules_workspace_kind ON ai_rules (workspace_id, kind, priority);

CREATE TABLE followups (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    lead_id         uuid NOT NULL,
    rule_id         uuid,
    step            integer NOT NULL DEFAULT 0,
    channel         text NOT NULL CHECK (channel IN ('sms', 'whatsapp', 'email')),
    template        text NOT NULL,
    due_at          timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'scheduled'
                    CHECK (status IN ('scheduled', 'enqueued', 'sending', 'sent', 'skipped', 'canceled', 'failed')),
    message_id      uuid,
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, lead_id) REFERENCES leads (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, rule_id) REFERENCES ai_rules (workspace_id, id) ON DELETE SET NULL (rule_id),
    FOREIGN KEY (workspace_id, message_id) REFERENCES messages (workspace_id, id) ON DELETE SET NULL (message_id)
);
CREATE INDEX followups_workspace_due ON followups (workspace_id, status, due_at);

CREATE TABLE calendar_events (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    integration_id  uuid NOT NULL,
    lead_id         uuid,
    provider_event_id text NOT NULL,
    summary         text NOT NULL DEFAULT '',
    starts_at       timestamptz,
    ends_at         timestamptz,
    status          text NOT NULL DEFAULT 'confirmed',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, integration_id) REFERENCES integrations (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, lead_id) REFERENCES leads (workspace_id, id) ON DELETE SET NULL (lead_id),
    UNIQUE (workspace_id, integration_id, provider_event_id)
);
CREATE INDEX calendar_events_workspace_start ON calendar_events (workspace_id, starts_at);

CREATE TABLE activity_logs (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    lead_id         uuid,
    kind            text NOT NULL,
    -- Security events (a job naming a foreign entity, a bad signature routed
    -- to this workspace) are flagged so ops can filter them.
    is_security     boolean NOT NULL DEFAULT false,
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, lead_id) REFERENCES leads (workspace_id, id) ON DELETE SET NULL (lead_id)
);
CREATE INDEX activity_logs_workspace_time ON activity_logs (workspace_id, created_at DESC);
CREATE INDEX activity_logs_workspace_lead ON activity_logs (workspace_id, lead_id, created_at DESC);

CREATE TABLE tasks (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    lead_id         uuid,
    assignee_id     uuid,
    title           text NOT NULL,
    detail          text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'dismissed')),
    due_at          timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, lead_id) REFERENCES leads (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, assignee_id) REFERENCES users (workspace_id, id) ON DELETE SET NULL (assignee_id)
);
CREATE INDEX tasks_workspace_status ON tasks (workspace_id, status, due_at);

-- One row per verified provider delivery; the unique key is the dedupe.
CREATE TABLE webhook_events (
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    provider            text NOT NULL,
    provider_event_id   text NOT NULL,
    kind                text NOT NULL DEFAULT '',
    payload             jsonb NOT NULL DEFAULT '{}'::jsonb,
    received_at         timestamptz NOT NULL DEFAULT now(),
    processed_at        timestamptz,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, provider, provider_event_id)
);

-- Jobs written in the same transaction as the rows that caused them; a relay
-- pushes them to Redis and re-pushes any not confirmed within a timeout.
CREATE TABLE outbox (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    queue           text NOT NULL,
    payload         jsonb NOT NULL,
    dedupe_key      text,
    max_attempts    integer NOT NULL,
    run_at          timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    enqueued_at     timestamptz,
    done_at         timestamptz,
    relay_attempts  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX outbox_workspace_pending ON outbox (workspace_id, created_at) WHERE done_at IS NULL;

CREATE TABLE api_keys (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    name            text NOT NULL,
    -- Only a SHA-256 of the key is stored; the prefix lets a studio tell keys apart.
    key_prefix      text NOT NULL,
    key_hash        bytea NOT NULL CHECK (length(key_hash) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, key_hash)
);

-- Deliveries we could not attribute to any workspace: ops-only, no tenant data.
CREATE TABLE unroutable_webhooks (
    id          uuid PRIMARY KEY,
    provider    text NOT NULL,
    reason      text NOT NULL,
    route_key   text,
    payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Row-level security for every tenant table, and the runtime role's grants.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT unnest(ARRAY[
        'users', 'subscriptions', 'wizard_progress', 'integrations', 'leads',
        'messages', 'call_logs', 'ai_rules', 'followups', 'calendar_events',
        'activity_logs', 'tasks', 'webhook_events', 'outbox', 'api_keys'])
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                USING (workspace_id = app_current_workspace())
                WITH CHECK (workspace_id = app_current_workspace())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO frontdesk_app', t);
    END LOOP;
END
$$;

ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON workspaces
    USING (id = app_current_workspace())
    WITH CHECK (id = app_current_workspace());
GRANT SELECT, INSERT, UPDATE, DELETE ON workspaces TO frontdesk_app;

GRANT SELECT, INSERT ON unroutable_webhooks TO frontdesk_app;
GRANT USAGE ON SCHEMA public TO frontdesk_app;
GRANT EXECUTE ON FUNCTION app_current_workspace() TO frontdesk_app;

-- System-wide operations that must cross workspaces get narrow SECURITY
-- DEFINER functions returning ids only, never a blanket bypass.
CREATE FUNCTION system_workspace_ids() RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$ SELECT id FROM workspaces ORDER BY id $$;
REVOKE ALL ON FUNCTION system_workspace_ids() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION system_workspace_ids() TO frontdesk_app;
