ALTER TABLE integrations DROP COLUMN secret_hint;
DROP INDEX integrations_one_per_provider;
ALTER TABLE wizard_progress DROP COLUMN skipped_steps;
ALTER TABLE workspaces DROP COLUMN default_language;
