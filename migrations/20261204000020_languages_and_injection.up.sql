-- Replies in the lead's language, and the classifier's injection flag.
-- (The studio's own language, workspaces.default_language, comes with
-- onboarding's profile step in 20261204000017; unset reads as English.)

-- Set when the lead's text tried to instruct the classifier ("ignore previous
-- instructions", a fake SYSTEM line); the classification is stored as usual.
ALTER TABLE leads ADD COLUMN suspected_injection boolean NOT NULL DEFAULT false;

-- Per-language variants of a follow-up's template, e.g. {"es": "Hola {first_name}…"};
-- the send job picks the lead's language, then the studio's, then `template`.
ALTER TABLE followups
    ADD COLUMN template_variants jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(template_variants) = 'object');
