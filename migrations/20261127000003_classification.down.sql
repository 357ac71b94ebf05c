DROP TABLE IF EXISTS ai_usage;
ALTER TABLE workspaces DROP COLUMN IF EXISTS ai_daily_token_budget;
ALTER TABLE leads DROP COLUMN IF EXISTS classified_at, DROP COLUMN IF EXISTS language, DROP COLUMN IF EXISTS ai_summary;
