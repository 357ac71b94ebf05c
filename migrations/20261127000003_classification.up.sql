-- AI classification: results on the lead, per-workspace daily token accounting and budget.

ALTER TABLE leads
    ADD COLUMN ai_summary text,
    ADD COLUMN language text,
    ADD COLUMN classified_at timestamptz;

-- NULL: the platform default (FRONTDESK_AI_DAILY_TOKEN_BUDGET) applies.
ALTER TABLE workspaces ADD COLUMN ai_daily_token_budget integer CHECK (ai_daily_token_budget >= 0);

CREATE TABLE ai_usage (
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    -- The UTC day the tokens were spent.
    day                 date NOT NULL,
    requests            integer NOT NULL DEFAULT 0,
    prompt_tokens       bigint NOT NULL DEFAULT 0,
    completion_tokens   bigint NOT NULL DEFAULT 0,
    -- Classifications decided offline because the budget was spent or the endpoint failed.
    fallbacks           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, day)
);
ALTER TABLE ai_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ai_usage
    USING (workspace_id = app_current_workspace())
    WITH CHECK (workspace_id = app_current_workspace());
DO $$ BEGIN
    EXECUTE format('CREATE POLICY owner_maintenance ON ai_usage TO %I USING (true) WITH CHECK (true)', current_user);
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON ai_usage TO frontdesk_app;
