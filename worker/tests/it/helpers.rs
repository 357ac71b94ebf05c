use std::{sync::Arc, time::Duration};

use apalis_core::{
    error::{AbortError, BoxDynError},
    task::Task,
};
use frontdesk_jobs::Jobs;
use frontdesk_jobs::{LeadId, MessageId, WorkspaceId};
use frontdesk_queue::{QueueConfig, RedisQueue};
use frontdesk_store::{
    Db, activity, leads,
    leads::NewLead,
    messages::{self, Channel, NewInbound},
    runtime_options,
    workspaces::{self, NewWorkspace},
};
use frontdesk_worker::{WorkerMetrics, WorkspaceGuardLayer};
use sqlx::PgPool;

pub async fn app_db(owner: &PgPool) -> Db {
    Db::connect_with(runtime_options(owner.connect_options().as_ref()), 4).await.unwrap()
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Jobs that handlers trigger go to this test's own Redis namespace.
pub async fn jobs() -> Jobs {
    let url = redis_url();
    let prefix = format!("fdtest-{}", uuid::Uuid::new_v4().simple());
    Jobs::new(RedisQueue::connect(&url, QueueConfig::default().namespace(prefix)).await.unwrap())
}

/// A guard with caching off, so status changes apply to the next job.
pub async fn guard(db: &Db) -> (WorkspaceGuardLayer, Arc<WorkerMetrics>) {
    let metrics = Arc::new(WorkerMetrics::default());
    (WorkspaceGuardLayer::new(db.clone(), jobs().await, Duration::ZERO, metrics.clone()), metrics)
}

pub struct Studio {
    pub id: WorkspaceId,
    pub lead: LeadId,
    pub message: MessageId,
}

/// A workspace with one lead and one unprocessed inbound SMS.
pub async fn studio(db: &Db, name: &str) -> Studio {
    let id =
        workspaces::create(db, &NewWorkspace { name: name.into(), timezone: "Europe/London".into() }).await.unwrap();
    let mut tx = db.tenant(id).await.unwrap();
    let lead = leads::create(
        &mut tx,
        &NewLead { phone: Some("+447700900123".parse().unwrap()), source: "sms".into(), ..NewLead::default() },
    )
    .await
    .unwrap();
    let message = messages::insert_inbound(
        &mut tx,
        &NewInbound {
            lead_id: lead,
            channel: Channel::Sms,
            body: "Do you have a trial class?".into(),
            provider_message_id: Some(format!("SM{}", uuid::Uuid::new_v4().simple())),
            subject: None,
            rfc_message_id: None,
            body_truncated: false,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    Studio { id, lead, message }
}

pub async fn is_processed(db: &Db, ws: WorkspaceId, message: MessageId) -> bool {
    let mut tx = db.tenant(ws).await.unwrap();
    messages::find(&mut tx, message).await.unwrap().expect("message exists").processed
}

pub async fn activity_kinds(db: &Db, ws: WorkspaceId) -> Vec<(String, bool, serde_json::Value)> {
    let mut tx = db.tenant(ws).await.unwrap();
    activity::recent(&mut tx, 50).await.unwrap().into_iter().map(|a| (a.kind, a.is_security, a.detail)).collect()
}

pub fn is_abort(result: &Result<(), BoxDynError>) -> bool {
    matches!(result, Err(e) if e.downcast_ref::<AbortError>().is_some())
}

pub fn task<J>(job: J) -> Task<J> {
    Task::new(job)
}
