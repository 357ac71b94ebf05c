//! A job pushed through the enqueue handle the API holds is picked up and
//! run by a separate `frontdesk worker` process.

use std::time::Duration;

use frontdesk_jobs::{ProcessInboundMessage, queue};
use frontdesk_store::{activity, messages};
use sqlx::PgPool;

use crate::helpers::{TestEnv, eventually, studio};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;

#[sqlx::test(migrator = "MIGRATOR")]
async fn job_enqueued_through_the_api_handle_is_run_by_a_worker_process(owner: PgPool) {
    let env = TestEnv::new(&owner).await;
    let a = studio(&env.db, "A").await;
    let _worker = env.spawn("worker");

    env.jobs.enqueue(&ProcessInboundMessage { workspace_id: a.id, message_id: a.message }).await.unwrap();

    let processed = eventually(Duration::from_secs(30), || async {
        let mut tx = env.db.tenant(a.id).await.unwrap();
        messages::find(&mut tx, a.message).await.unwrap().unwrap().processed
    })
    .await;
    assert!(processed, "worker process did not run the job within 30 s");
    let mut tx = env.db.tenant(a.id).await.unwrap();
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
    assert!(eventually(Duration::from_secs(30), || async { refusals().await >= 1 }).await, "no refusal logged");
    // Permanent means permanent: straight to the dead set, never retried.
    let dead = eventually(Duration::from_secs(10), || async {
        env.queue.stats(queue::PROCESS_INBOUND).await.unwrap().dead == 1
    })
    .await;
    assert!(dead, "the refused job is not in the dead set");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(refusals().await, 1);
    let mut tx = env.db.tenant(b.id).await.unwrap();
    assert!(!messages::find(&mut tx, b.message).await.unwrap().unwrap().processed);
    assert!(activity::recent(&mut tx, 10).await.unwrap().is_empty());
}
