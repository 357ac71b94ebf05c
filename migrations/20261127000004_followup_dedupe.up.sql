-- A sequence runs once per lead: re-classifying a lead (each new message,
-- a redelivered job) must not schedule its steps again.
CREATE UNIQUE INDEX followups_sequence_step ON followups (workspace_id, lead_id, rule_id, step)
    WHERE rule_id IS NOT NULL;
