//! The follow-up scheduler. Every `serve` and `worker` process runs one; any
//! number may run at once.
//!
//! Each tick it (1) fires the studios' cron rules whose time has come,
//! creating their follow-ups, and (2) enqueues due follow-ups. Both are
//! exactly once across replicas through Postgres alone: a cron occurrence
//! belongs to whoever moves the rule's `last_fired_at` past it (a row-locked
//! conditional update), and a due follow-up to whoever moves it `scheduled →
//! enqueued` (`FOR UPDATE SKIP LOCKED`), in the same transaction as the
//! outbox entry that sends it. Work is taken round-robin across workspaces,
//! a bounded slice of each per round, so one studio's backlog never delays
//! another's follow-ups by more than a round.

pub mod cron_schedule;

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use frontdesk_jobs::{Capability, Jobs, Report, WorkspaceId};
use frontdesk_store::{
    Db, StoreError, activity,
    activity::Activity,
    ai::{self, CronRule},
    followups, leads,
    messages::Channel,
    outbox, workspaces,
};
use serde::Deserialize;
use tokio::sync::watch;
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Time between ticks. A follow-up goes out at most this late.
    pub tick: Duration,
    /// Workspaces visited per round.
    pub workspaces_per_round: i64,
    /// Follow-ups taken from one workspace per round.
    pub per_workspace: i64,
    /// Rounds per tick while some workspace still has more due.
    pub max_rounds: usize,
    /// A cron occurrence missed by longer than this (every scheduler was
    /// down) is skipped rather than sent late.
    pub cron_grace: chrono::Duration,
    /// Leads one cron firing may message.
    pub cron_max_leads: i64,
    /// Leads read per page while a firing schedules its follow-ups.
    pub cron_page: i64,
    /// A follow-up its job left `enqueued` or `sending` this long is reaped
    /// (rescheduled, or failed as `outcome_unknown`). Far above any retry
    /// backoff, so a job still alive is never raced.
    pub stranded_after: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(15),
            workspaces_per_round: 200,
            per_workspace: 100,
            max_rounds: 10,
            cron_grace: chrono::Duration::hours(6),
            cron_max_leads: 50_000,
            cron_page: 1000,
            stranded_after: Duration::from_secs(6 * 3600),
        }
    }
}

/// What one tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    pub cron_firings: u64,
    pub enqueued: u64,
}

#[derive(Clone)]
pub struct Scheduler {
    db: Db,
    jobs: Jobs,
    config: SchedulerConfig,
}

/// `ai_rules.config` of a cron rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Campaign {
    channel: Channel,
    template: String,
    /// Per-language versions of `template` (ISO 639-1 code → template).
    #[serde(default)]
    templates: std::collections::BTreeMap<String, String>,
    subject: Option<String>,
    #[serde(default)]
    segment: leads::Segment,
}

impl Scheduler {
    pub fn new(db: Db, jobs: Jobs, config: SchedulerConfig) -> Self {
        Self { db, jobs, config }
    }

    /// Ticks until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            match self.tick(Utc::now()).await {
                Ok(report) if report != TickReport::default() => {
                    info!(cron_firings = report.cron_firings, enqueued = report.enqueued, "scheduler tick")
                }
                Ok(_) => {}
                Err(e) => warn!(error = %Report(&e), "scheduler tick failed; retrying next tick"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.tick) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, StoreError> {
        let cron_firings = self.fire_cron_rules(now).await?;
        let enqueued = self.enqueue_due().await?;
        Ok(TickReport { cron_firings, enqueued })
    }

    async fn enqueue_due(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for _ in 0..self.config.max_rounds {
            let due = followups::due_workspaces(&self.db, self.config.workspaces_per_round, self.config.stranded_after)
                .await?;
            let mut more = false;
            for ws in due {
                // One studio's failure must not stop the others' follow-ups.
                match self.enqueue_workspace(ws).await {
                    Ok(n) => {
                        total += n;
                        more |= n as i64 >= self.config.per_workspace;
                    }
                    Err(e) => warn!(workspace_id = %ws, error = %Report(&e), "could not enqueue due follow-ups"),
                }
            }
            if !more {
                break;
            }
        }
        Ok(total)
    }

    async fn enqueue_workspace(&self, ws: WorkspaceId) -> Result<u64, StoreError> {
        let mut tx = self.db.tenant(ws).await?;
        let Some(state) = workspaces::load_state(&mut tx).await? else { return Ok(0) };
        // A lapsed studio's follow-ups wait, scheduled, until it pays again.
        if state.permits(Capability::OutboundMessaging).is_err() {
            return Ok(0);
        }
        let reaped = followups::reap_stranded(&mut tx, self.config.stranded_after).await?;
        if reaped > 0 {
            warn!(workspace_id = %ws, reaped, "follow-ups stranded by a lost job were reaped");
        }
        let triggered = followups::claim_due(&mut tx, self.config.per_workspace).await?;
        tx.commit().await?;
        let n = triggered.len() as u64;
        outbox::push_committed(&self.db, &self.jobs, ws, triggered).await;
        Ok(n)
    }

    async fn fire_cron_rules(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut fired = 0;
        for ws in ai::cron_workspaces(&self.db).await? {
            match self.fire_workspace_rules(ws, now).await {
                Ok(n) => fired += n,
                Err(e) => warn!(workspace_id = %ws, error = %Report(&e), "could not fire cron rules"),
            }
        }
        Ok(fired)
    }

    async fn fire_workspace_rules(&self, ws: WorkspaceId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.db.tenant(ws).await?;
        let Some(state) = workspaces::load_state(&mut tx).await? else { return Ok(0) };
        if state.permits(Capability::OutboundMessaging).is_err() {
            return Ok(0);
        }
        let tz: Tz = state.timezone.parse().unwrap_or(Tz::UTC);
        let mut fired = 0;
        for rule in ai::cron_rules(&mut tx).await? {
            let Some(occurrence) = self.due_occurrence(&rule, tz, now) else { continue };
            if !ai::mark_fired(&mut tx, rule.id, occurrence).await? {
                continue; // another replica took this occurrence
            }
            if now - occurrence > self.config.cron_grace {
                warn!(workspace_id = %ws, rule_id = %rule.id, %occurrence, "cron occurrence missed by too long; skipped");
                continue;
            }
            let campaign: Campaign = match serde_json::from_value(rule.config.clone()) {
                Ok(c) => c,
                Err(e) => {
                    // The occurrence is spent; the studio sees why in its activity log.
                    warn!(workspace_id = %ws, rule_id = %rule.id, error = %Report(&e), "cron rule config is invalid");
                    let detail = serde_json::json!({ "rule_id": rule.id, "error": e.to_string() });
                    let entry = Activity { kind: "cron_rule_invalid", lead_id: None, is_security: false, detail };
                    activity::record(&mut tx, &entry).await?;
                    continue;
                }
            };
            let channel = campaign.channel;
            let variants: Vec<(&str, &str)> =
                campaign.templates.iter().map(|(language, text)| (language.as_str(), text.as_str())).collect();
            let message = followups::CampaignMessage {
                rule_id: rule.id,
                channel,
                template: &campaign.template,
                variants: &variants,
                subject: campaign.subject.as_deref(),
            };
            let (mut created, mut seen, mut after) = (0, 0, None);
            let truncated = loop {
                let page = (self.config.cron_max_leads - seen).min(self.config.cron_page).max(1);
                let targets = leads::in_segment(&mut tx, &campaign.segment, channel, after, page).await?;
                created += followups::schedule_campaign(&mut tx, &message, &targets).await?;
                seen += targets.len() as i64;
                after = targets.last().copied();
                if (targets.len() as i64) < page {
                    break false;
                }
                if seen >= self.config.cron_max_leads {
                    break true;
                }
            };
            if truncated {
                warn!(workspace_id = %ws, rule_id = %rule.id, seen, "cron campaign stopped at its lead limit");
            }
            let detail = serde_json::json!({
                "rule_id": rule.id, "occurrence": occurrence, "followups": created, "truncated": truncated
            });
            activity::record(&mut tx, &Activity { kind: "cron_rule_fired", lead_id: None, is_security: false, detail })
                .await?;
            fired += 1;
        }
        tx.commit().await?;
        Ok(fired)
    }

    /// The rule's latest occurrence not yet fired, if one has come.
    fn due_occurrence(&self, rule: &CronRule, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let expression = rule.pattern.as_deref()?;
        let schedule = match cron_schedule::parse(expression) {
            Ok(s) => s,
            Err(e) => {
                warn!(rule_id = %rule.id, error = %Report(&e), "cron rule skipped");
                return None;
            }
        };
        let since = rule.last_fired_at.unwrap_or(rule.created_at);
        schedule.latest_between(tz, since, now, self.config.cron_grace * 2)
    }
}
