-- Inbound bodies are stored up to a per-channel cap (frontdesk_domain::
-- inbound_text). A body that was cut says so, so the studio knows the
-- message was longer than what it sees.
ALTER TABLE messages ADD COLUMN body_truncated boolean NOT NULL DEFAULT false;
