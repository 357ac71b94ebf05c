//! A job pushed through the enqueue handle the API holds is picked up and
//! run by a separate `frontdesk worker` process.

use frontdesk_jobs::{ProcessInboundMessage, queue};
use frontdesk_store::{activity, messages};
use sqlx::PgPool;

use crate::helpers::{TestEnv, studio};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;

#[sqlx::test(migrator = "MIGRATOR")]
async fn job_enqueued_through_the_api_handle_is_run_by_a_worker_process(owner: PgPool) {
    let env = TestEnv::new(&owner).await;
    let a = studio(&env.db, "A").await;
    let _worker = env.spawn("worker");

    env.jobs.enqueue(&ProcessInboundMessage { workspace_id: a.id, message_id: a.message }).await.unwrap();

    env.wait_until_idle().await;
    let mut tx = env.db.tenant(a.id).await.unwrap();
    assert!(messages::find(&mut tx, a.message).await.unwrap().unwrap().processed, "the worker process ran the job");
    let kinds: Vec<_> = activity::recent(&mut tx, 10).await.unwrap().into_iter().map(|a| a.kind).collect();
    // Processing ran once (classification may follow it in the same worker).
    assert_eq!(kinds.iter().filter(|k| *k == "message_processed").count(), 1, "{kinds:?}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn forged_job_is_refused_once_by_the_worker_process_without_touching_the_other_workspace(owner: PgPool) {
    let env = TestEnv::new(&owner).await;
    let (a, b) = (studio(&env.db, "A").await, studio(&env.db, "B").await);
    let _worker = env.spawn("worker");

    env.jobs.enqueue(&ProcessInboundMessage { workspace_id: a.id, message_id: b.message }).await.unwrap();

    let refusals = || async {
        let mut tx = env.db.tenant(a.id).await.unwrap();
        activity::recent(&mut tx, 10)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.is_security && r.kind == "job_refused")
            .count()
    };
    env.wait_until_idle().await;
    // Permanent means permanent: straight to the dead set, no retry pending.
    let stats = env.queue.stats(queue::PROCESS_INBOUND).await.unwrap();
    assert_eq!((stats.dead, stats.retrying, stats.failed), (1, 0, 1), "{stats:?}");
    assert_eq!(refusals().await, 1);
    let mut tx = env.db.tenant(b.id).await.unwrap();
    assert!(!messages::find(&mut tx, b.message).await.unwrap().unwrap().processed);
    assert!(activity::recent(&mut tx, 10).await.unwrap().is_empty());
}
