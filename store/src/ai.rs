//! What lead classification reads and writes: the workspace's rules and
//! budget, the lead's recent conversation, token accounting, the result.

use chrono::Utc;
use frontdesk_jobs::{AiRuleId, LeadId, TaskId, WorkspaceId};
use uuid::Uuid;

use crate::{StoreError, TenantTx};

/// An `ai_rules` row; the classifier crate gives it meaning.
#[derive(Clone, Debug)]
pub struct RuleRow {
    pub id: AiRuleId,
    pub name: String,
    pub kind: String,
    pub pattern: Option<String>,
    pub config: serde_json::Value,
    pub priority: i32,
}

pub async fn rules(tx: &mut TenantTx) -> Result<Vec<RuleRow>, StoreError> {
    let ws = tx.workspace_id();
    let rows = sqlx::query_as!(
        RuleRow,
        r#"SELECT id AS "id: AiRuleId", name, kind, pattern, config, priority
           FROM ai_rules WHERE workspace_id = $1 AND enabled ORDER BY priority, id"#,
        ws as WorkspaceId
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}

#[derive(Clone, Debug)]
pub struct NewRule<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub pattern: Option<&'a str>,
    pub config: serde_json::Value,
    pub priority: i32,
}

pub async fn add_rule(tx: &mut TenantTx, rule: &NewRule<'_>) -> Result<AiRuleId, StoreError> {
    let ws = tx.workspace_id();
    let id = AiRuleId::new();
    sqlx::query!(
        "INSERT INTO ai_rules (workspace_id, id, name, kind, pattern, config, priority) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        ws as WorkspaceId,
        id as AiRuleId,
        rule.name,
        rule.kind,
        rule.pattern,
        rule.config,
        rule.priority
    )
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// One message the lead sent, as classification reads it.
#[derive(Clone, Debug)]
pub struct Said {
    pub channel: String,
    /// At most the `max_chars` asked for: a long body is never loaded whole.
    pub body: String,
}

/// The lead's last `limit` inbound messages, newest first, each cut to
/// `max_chars` characters in the database.
pub async fn recent_inbound(
    tx: &mut TenantTx,
    lead_id: LeadId,
    limit: i64,
    max_chars: i32,
) -> Result<Vec<Said>, StoreError> {
    let ws = tx.workspace_id();
    let said = sqlx::query_as!(
        Said,
        r#"SELECT channel, left(body, $4) AS "body!"
           FROM messages WHERE workspace_id = $1 AND lead_id = $2 AND direction = 'inbound'
           ORDER BY created_at DESC, id DESC LIMIT $3"#,
        ws as WorkspaceId,
        lead_id as LeadId,
        limit,
        max_chars
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(said)
}

/// Tokens spent today (UTC) and the workspace's own daily budget, if set.
pub async fn budget_state(tx: &mut TenantTx) -> Result<(i64, Option<i64>), StoreError> {
    let ws = tx.workspace_id();
    let row = sqlx::query!(
        r#"SELECT COALESCE((SELECT prompt_tokens + completion_tokens FROM ai_usage
                            WHERE workspace_id = $1 AND day = $2), 0) AS "spent!",
                  (SELECT ai_daily_token_budget FROM workspaces WHERE id = $1) AS "budget""#,
        ws as WorkspaceId,
        Utc::now().date_naive()
    )
    .fetch_one(tx.conn())
    .await?;
    Ok((row.spent, row.budget.map(i64::from)))
}

pub async fn set_budget(tx: &mut TenantTx, tokens: Option<i32>) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!("UPDATE workspaces SET ai_daily_token_budget = $2 WHERE id = $1", ws as WorkspaceId, tokens)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Adds one request's usage to today's row.
pub async fn record_usage(tx: &mut TenantTx, prompt: i64, completion: i64, fallback: bool) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "INSERT INTO ai_usage (workspace_id, id, day, requests, prompt_tokens, completion_tokens, fallbacks)
         VALUES ($1, $2, $3, CASE WHEN $4::bigint + $5::bigint > 0 THEN 1 ELSE 0 END, $4, $5, CASE WHEN $6::boolean THEN 1 ELSE 0 END)
         ON CONFLICT (workspace_id, day) DO UPDATE SET
            requests = ai_usage.requests + EXCLUDED.requests,
            prompt_tokens = ai_usage.prompt_tokens + EXCLUDED.prompt_tokens,
            completion_tokens = ai_usage.completion_tokens + EXCLUDED.completion_tokens,
            fallbacks = ai_usage.fallbacks + EXCLUDED.fallbacks",
        ws as WorkspaceId,
        Uuid::now_v7(),
        Utc::now().date_naive(),
        prompt,
        completion,
        fallback
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct ClassificationRecord<'a> {
    pub intent: &'a str,
    pub temperature: &'a str,
    pub score: i16,
    pub language: &'a str,
    pub summary: &'a str,
    /// `llm`, `rules`, `offline`, `offline_fallback`, `offline_budget`.
    pub classified_by: &'a str,
    /// The text tried to instruct the classifier.
    pub suspected_injection: bool,
}

pub async fn store_classification(
    tx: &mut TenantTx,
    lead_id: LeadId,
    c: &ClassificationRecord<'_>,
) -> Result<(), StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!(
        "UPDATE leads SET intent = $3, temperature = $4, score = $5, language = $6, ai_summary = $7,
                classified_by = $8, suspected_injection = $9, classified_at = now(), updated_at = now(),
                status = CASE WHEN status = 'new' THEN 'qualified' ELSE status END
         WHERE workspace_id = $1 AND id = $2",
        ws as WorkspaceId,
        lead_id as LeadId,
        c.intent,
        c.temperature,
        c.score,
        c.language,
        c.summary,
        c.classified_by,
        c.suspected_injection
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A staff task about a lead, unless the same one is still open (a lead
/// re-classified on every message gets one task, not one per message).
pub async fn create_task(tx: &mut TenantTx, lead_id: LeadId, title: &str, detail: &str) -> Result<TaskId, StoreError> {
    let ws = tx.workspace_id();
    let id = TaskId::new();
    sqlx::query!(
        "INSERT INTO tasks (workspace_id, id, lead_id, title, detail)
         SELECT $1, $2, $3, $4, $5
         WHERE NOT EXISTS (SELECT 1 FROM tasks
                           WHERE workspace_id = $1 AND lead_id = $3 AND title = $4 AND status = 'open')",
        ws as WorkspaceId,
        id as TaskId,
        lead_id as LeadId,
        title,
        detail
    )
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// A studio's scheduled campaign (`kind = 'cron'`): `pattern` is a 5-field
/// cron expression read in the workspace's timezone.
#[derive(Clone, Debug)]
pub struct CronRule {
    pub id: AiRuleId,
    pub name: String,
    pub pattern: Option<String>,
    pub config: serde_json::Value,
    pub last_fired_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

pub async fn cron_rules(tx: &mut TenantTx) -> Result<Vec<CronRule>, StoreError> {
    let ws = tx.workspace_id();
    let rows = sqlx::query_as!(
        CronRule,
        r#"SELECT id AS "id: AiRuleId", name, pattern, config, last_fired_at, created_at
           FROM ai_rules WHERE workspace_id = $1 AND kind = 'cron' AND enabled ORDER BY priority, id"#,
        ws as WorkspaceId
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows)
}

/// Records that `rule` fired for the occurrence at `fire_at`. True for the
/// one caller that moved it: the row lock serializes scheduler replicas, and
/// the others then see the occurrence already taken.
pub async fn mark_fired(
    tx: &mut TenantTx,
    rule: AiRuleId,
    fire_at: chrono::DateTime<chrono::Utc>,
) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let done = sqlx::query!(
        "UPDATE ai_rules SET last_fired_at = $3, updated_at = now()
         WHERE workspace_id = $1 AND id = $2 AND (last_fired_at IS NULL OR last_fired_at < $3)",
        ws as WorkspaceId,
        rule as AiRuleId,
        fire_at
    )
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Workspaces (active ones) with enabled cron rules, through the id-only
/// `cron_rule_workspaces`.
pub async fn cron_workspaces(db: &crate::Db) -> Result<Vec<WorkspaceId>, StoreError> {
    let ids = sqlx::query_scalar!(r#"SELECT workspace_id AS "id!: WorkspaceId" FROM cron_rule_workspaces()"#)
        .fetch_all(db.pool())
        .await?;
    Ok(ids)
}

/// Replaces the workspace's `studio_context` rule (there is one per studio:
/// the classifier reports a second one as a mistake).
pub async fn replace_studio_context(tx: &mut TenantTx, config: serde_json::Value) -> Result<AiRuleId, StoreError> {
    let ws = tx.workspace_id();
    sqlx::query!("DELETE FROM ai_rules WHERE workspace_id = $1 AND kind = 'studio_context'", ws as WorkspaceId)
        .execute(tx.conn())
        .await?;
    add_rule(tx, &NewRule { name: "studio context", kind: "studio_context", pattern: None, config, priority: 0 }).await
}

/// Whether the workspace has a studio context rule.
pub async fn has_studio_context(tx: &mut TenantTx) -> Result<bool, StoreError> {
    let ws = tx.workspace_id();
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM ai_rules WHERE workspace_id = $1 AND kind = 'studio_context') AS "found!""#,
        ws as WorkspaceId
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(found)
}
