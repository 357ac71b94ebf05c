ALTER TABLE followups DROP COLUMN IF EXISTS template_variants;
ALTER TABLE leads DROP COLUMN IF EXISTS suspected_injection;
