-- Replies in the lead's language, and the classifier's injection flag.

-- The studio's language: what a lead gets when their own is not known yet,
-- and what short messages ("ok", "price?") are taken to be written in.
ALTER TABLE workspaces
    ADD COLUMN default_language text NOT NULL DEFAULT 'en' CHECK (default_language ~ '^[a-z]{2}$');

-- Set when the lead's text tried to instruct the classifier ("ignore previous
-- instructions", a fake SYSTEM line); the classification is stored as usual.
ALTER TABLE leads ADD COLUMN suspected_injection boolean NOT NULL DEFAULT false;

-- Per-language variants of a follow-up's template, e.g. {"es": "Hola {first_name}…"};
-- the send job picks the lead's language, then the studio's, then `template`.
ALTER TABLE followups
    ADD COLUMN template_variants jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(template_variants) = 'object');
