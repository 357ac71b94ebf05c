use std::{sync::Arc, time::Duration};

use apalis::prelude::*;
use frontdesk_jobs::WorkspaceId;
use frontdesk_queue::{Lease, QueueConfig};

use crate::helpers::*;

async fn noop(_job: TestJob, _rec: Data<Arc<Recorder>>, _lease: Lease) -> Result<(), BoxDynError> {
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_thousand_jobs_due_at_once_are_all_processed_without_worker_death() {
    let queue = connect(QueueConfig {
        workspace_concurrency: 1000,
        batch_size: 64,
        finished_ttl: Duration::ZERO,
        ..test_config()
    })
    .await;
    let workspaces: Vec<WorkspaceId> = (0..50).map(|_| WorkspaceId::new()).collect();
    let far = chrono::Utc::now() + chrono::Duration::hours(1);
    let jobs = (0..200_000u64)
        .map(|n| {
            let mut e = envelope(workspaces[n as usize % 50], n);
            e.run_at = Some(far);
            e
        })
        .collect();
    push_all(&queue, jobs).await;
    // Make every one of them due at the same instant.
    let sched = format!("{{{}:{QUEUE}}}:sched", queue.config().namespace);
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection_with_config(&redis::AsyncConnectionConfig::new().set_response_timeout(None))
        .await
        .unwrap();
    let _: i64 = redis::cmd("ZUNIONSTORE")
        .arg(&sched)
        .arg(1)
        .arg(&sched)
        .arg("WEIGHTS")
        .arg(0)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(queue.stats(QUEUE).await.unwrap().scheduled, 200_000);

    let rec = Arc::new(Recorder::default());
    let w = spawn_worker!(queue, rec.clone(), 64, noop);
    let done = eventually(Duration::from_secs(240), async || {
        w.assert_alive();
        queue.stats(QUEUE).await.unwrap().completed == 200_000
    })
    .await;
    let stats = queue.stats(QUEUE).await.unwrap();
    assert!(done, "only {} of 200000 completed", stats.completed);
    assert_eq!((stats.waiting, stats.scheduled, stats.in_flight, stats.dead), (0, 0, 0, 0));
    w.assert_alive();
    drop(w);
    drop_namespace(&queue).await;
}
