DROP FUNCTION IF EXISTS system_workspace_ids();
DROP TABLE IF EXISTS unroutable_webhooks, api_keys, outbox, webhook_events, tasks,
    activity_logs, calendar_events, followups, ai_rules, call_logs, messages, leads,
    integrations, wizard_progress, subscriptions, users, workspaces;
DROP FUNCTION IF EXISTS app_current_workspace();
-- The frontdesk_app role is cluster-wide and may serve other databases; it is left in place.
