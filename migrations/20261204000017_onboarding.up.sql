-- The onboarding wizard: the studio's default language (profile step),
-- steps a studio chose to skip, and one integration per provider (a
-- workspace has one Twilio account, one WhatsApp sender, one SMTP account
-- and one LLM endpoint; the send and classify jobs read exactly that one).
ALTER TABLE workspaces ADD COLUMN default_language text
    CHECK (default_language ~ '^[a-z]{2}(-[A-Z]{2})?$');
ALTER TABLE wizard_progress ADD COLUMN skipped_steps text[] NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX integrations_one_per_provider ON integrations (workspace_id, provider)
    WHERE provider IN ('twilio', 'whatsapp', 'smtp', 'openai');
-- The last four characters of the sealed credential, so a studio can tell
-- which token is configured without the api ever decrypting it to answer.
ALTER TABLE integrations ADD COLUMN secret_hint text CHECK (length(secret_hint) <= 4);
