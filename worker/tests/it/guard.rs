//! Layer 2 of tenant isolation: the worker-side workspace guard.

use apalis_core::task::task_fn::task_fn;
use frontdesk_jobs::{FollowupId, ProcessInboundMessage, SendFollowup};
use frontdesk_store::workspaces::{self, WorkspaceStatus};
use frontdesk_worker::{JobContext, JobError, handlers::process_inbound};
use sqlx::PgPool;
use std::sync::atomic::Ordering;
use tower::{Layer, Service, ServiceExt};

use crate::helpers::*;

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;

#[sqlx::test(migrator = "MIGRATOR")]
async fn job_for_workspace_a_naming_b_message_fails_permanently_without_side_effects(owner: PgPool) {
    let db = app_db(&owner).await;
    let (a, b) = (studio(&db, "A").await, studio(&db, "B").await);
    let (guard, metrics) = guard(&db).await;
    let mut svc = guard.layer(task_fn(process_inbound::handle));

    let forged = ProcessInboundMessage { workspace_id: a.id, message_id: b.message };
    let result = svc.ready().await.unwrap().call(task(forged)).await;

    assert!(is_abort(&result), "expected a permanent failure, got {result:?}");
    assert!(!is_processed(&db, b.id, b.message).await, "B's message was touched");
    assert!(activity_kinds(&db, b.id).await.is_empty(), "B's activity log changed");
    let logged = activity_kinds(&db, a.id).await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].0, "job_refused");
    assert!(logged[0].1, "refusal must be flagged as a security event");
    assert_eq!(logged[0].2["reason"], "foreign_entity");
    assert_eq!(metrics.foreign_entity.load(Ordering::Relaxed), 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn job_for_own_message_runs_inside_the_guards_tenant_transaction(owner: PgPool) {
    let db = app_db(&owner).await;
    let a = studio(&db, "A").await;
    let (guard, metrics) = guard(&db).await;
    let mut svc = guard.layer(task_fn(process_inbound::handle));

    let job = ProcessInboundMessage { workspace_id: a.id, message_id: a.message };
    svc.ready().await.unwrap().call(task(job.clone())).await.unwrap();
    assert!(is_processed(&db, a.id, a.message).await);
    // Redelivery is harmless: one activity row, not two.
    svc.ready().await.unwrap().call(task(job)).await.unwrap();
    let kinds: Vec<_> = activity_kinds(&db, a.id).await.into_iter().map(|k| k.0).collect();
    assert_eq!(kinds, vec!["message_processed"]);
    assert_eq!(metrics.total(), 0);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn job_for_a_paused_workspace_fails_permanently_and_is_logged(owner: PgPool) {
    let db = app_db(&owner).await;
    let a = studio(&db, "A").await;
    let mut tx = db.tenant(a.id).await.unwrap();
    workspaces::set_status(&mut tx, WorkspaceStatus::Paused).await.unwrap();
    tx.commit().await.unwrap();
    let (guard, metrics) = guard(&db).await;
    let mut svc = guard.layer(task_fn(process_inbound::handle));

    let result = svc
        .ready()
        .await
        .unwrap()
        .call(task(ProcessInboundMessage { workspace_id: a.id, message_id: a.message }))
        .await;
    assert!(is_abort(&result), "{result:?}");
    assert!(!is_processed(&db, a.id, a.message).await);
    let logged = activity_kinds(&db, a.id).await;
    assert_eq!(logged[0].2["reason"], "workspace_not_allowed");
    assert_eq!(metrics.workspace_not_allowed.load(Ordering::Relaxed), 1);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn job_for_a_missing_workspace_fails_permanently_and_is_counted(owner: PgPool) {
    let db = app_db(&owner).await;
    let a = studio(&db, "A").await;
    let (guard, metrics) = guard(&db).await;
    let mut svc = guard.layer(task_fn(process_inbound::handle));
    let ghost = frontdesk_jobs::WorkspaceId::new();
    let result = svc
        .ready()
        .await
        .unwrap()
        .call(task(ProcessInboundMessage { workspace_id: ghost, message_id: a.message }))
        .await;
    assert!(is_abort(&result), "{result:?}");
    assert_eq!(metrics.workspace_missing.load(Ordering::Relaxed), 1);
    assert!(!is_processed(&db, a.id, a.message).await);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn canceled_subscription_refuses_outbound_jobs_before_touching_them(owner: PgPool) {
    let db = app_db(&owner).await;
    let a = studio(&db, "A").await;
    let mut tx = db.tenant(a.id).await.unwrap();
    workspaces::set_subscription_status(&mut tx, "canceled").await.unwrap();
    tx.commit().await.unwrap();
    let (guard, metrics) = guard(&db).await;
    let mut outbound = guard.clone().layer(task_fn(|_: SendFollowup| async { Ok::<(), JobError>(()) }));
    let result = outbound
        .ready()
        .await
        .unwrap()
        .call(task(SendFollowup { workspace_id: a.id, followup_id: FollowupId::new() }))
        .await;
    assert!(is_abort(&result), "{result:?}");
    assert_eq!(metrics.workspace_not_allowed.load(Ordering::Relaxed), 1);

    // Internal bookkeeping still runs for a canceled studio.
    let mut internal = guard.layer(task_fn(process_inbound::handle));
    internal
        .ready()
        .await
        .unwrap()
        .call(task(ProcessInboundMessage { workspace_id: a.id, message_id: a.message }))
        .await
        .unwrap();
    assert!(is_processed(&db, a.id, a.message).await);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn handler_errors_keep_their_retry_class_through_the_guard(owner: PgPool) {
    let db = app_db(&owner).await;
    let a = studio(&db, "A").await;
    let (guard, _) = guard(&db).await;
    let job = ProcessInboundMessage { workspace_id: a.id, message_id: a.message };

    let mut permanent = guard.clone().layer(task_fn(|_: ProcessInboundMessage, _: JobContext| async {
        Err::<(), _>(JobError::permanent("recipient opted out"))
    }));
    let result = permanent.ready().await.unwrap().call(task(job.clone())).await;
    assert!(is_abort(&result), "{result:?}");

    let mut retryable = guard.layer(task_fn(|_: ProcessInboundMessage, _: JobContext| async {
        Err::<(), _>(JobError::retryable("provider returned 503"))
    }));
    let result = retryable.ready().await.unwrap().call(task(job)).await;
    assert!(result.is_err() && !is_abort(&result), "{result:?}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn job_for_workspace_a_naming_b_lead_never_reaches_its_handler(owner: PgPool) {
    use frontdesk_jobs::ClassifyLead;
    use frontdesk_store::{activity, activity::Activity};

    let db = app_db(&owner).await;
    let (a, b) = (studio(&db, "A").await, studio(&db, "B").await);
    let (guard, metrics) = guard(&db).await;
    // A handler with a visible effect, to prove it never ran.
    let mut svc = guard.layer(task_fn(|job: ClassifyLead, cx: JobContext| async move {
        let mut tx = cx.tenant().await?;
        activity::record(
            &mut tx,
            &Activity {
                kind: "classified",
                lead_id: Some(job.lead_id),
                is_security: false,
                detail: serde_json::json!({}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok::<(), JobError>(())
    }));
    let result = svc.ready().await.unwrap().call(task(ClassifyLead { workspace_id: a.id, lead_id: b.lead })).await;
    assert!(is_abort(&result), "{result:?}");
    assert!(activity_kinds(&db, b.id).await.is_empty());
    let kinds: Vec<_> = activity_kinds(&db, a.id).await.into_iter().map(|k| k.0).collect();
    assert_eq!(kinds, vec!["job_refused"]);
    assert_eq!(metrics.foreign_entity.load(Ordering::Relaxed), 1);

    // The same handler does run for A's own lead.
    let result = svc.ready().await.unwrap().call(task(ClassifyLead { workspace_id: a.id, lead_id: a.lead })).await;
    assert!(result.is_ok(), "{result:?}");
}
