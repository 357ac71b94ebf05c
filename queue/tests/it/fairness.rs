use std::{sync::Arc, time::Duration};

use apalis::prelude::*;
use frontdesk_jobs::WorkspaceId;
use frontdesk_queue::{Lease, QueueConfig};

use crate::helpers::*;

async fn sleeps_10ms(job: TestJob, rec: Data<Arc<Recorder>>, lease: Lease) -> Result<(), BoxDynError> {
    rec.start(&job, &lease);
    tokio::time::sleep(Duration::from_millis(10)).await;
    rec.finish(&job);
    Ok(())
}

#[tokio::test]
async fn quiet_workspaces_finish_after_a_tiny_fraction_of_a_50k_backlog() {
    // A cap high enough not to matter: what is proven is the round robin.
    let queue = connect(QueueConfig { workspace_concurrency: 1000, ..test_config() }).await;
    let noisy = WorkspaceId::new();
    // The backlog is enqueued first: a FIFO queue would run all 50,000 before
    // any quiet job.
    push_all(&queue, (0..50_000).map(|n| envelope(noisy, n)).collect()).await;
    let quiet: Vec<WorkspaceId> = (0..20).map(|_| WorkspaceId::new()).collect();
    let mut jobs = Vec::new();
    for (i, ws) in quiet.iter().enumerate() {
        for j in 0..10 {
            jobs.push(envelope(*ws, 100_000 + (i * 10 + j) as u64));
        }
    }
    push_all(&queue, jobs).await;

    let rec = Arc::new(Recorder::default());
    let w = spawn_worker!(queue, rec.clone(), 16, ok_handler);
    let quiet_done = async || rec.starts.lock().unwrap().iter().filter(|s| s.0.workspace_id != noisy).count() == 200;
    assert!(eventually(Duration::from_secs(60), quiet_done).await);
    let noisy_started = rec.starts.lock().unwrap().iter().filter(|s| s.0.workspace_id == noisy).count();
    // One noisy job per turn of the ring: about ten turns for ten quiet jobs
    // each, plus what was buffered. 2% of the backlog is a generous bound.
    assert!(noisy_started <= 1_000, "{noisy_started} backlog jobs ran before the quiet ones finished");
    w.assert_alive();
    drop(w);
    drop_namespace(&queue).await;
}

#[tokio::test]
async fn workspace_at_its_cap_is_skipped_and_holds_no_worker_slots() {
    let queue = connect(test_config()).await;
    let (capped, other) = (WorkspaceId::new(), WorkspaceId::new());
    queue.set_workspace_cap(QUEUE, capped, Some(2)).await.unwrap();
    let mut jobs: Vec<_> = (0..20).map(|n| envelope(capped, n)).collect();
    jobs.extend((100..120).map(|n| envelope(other, n)));
    push_all(&queue, jobs).await;

    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 8, sleeps_10ms);
    assert!(eventually(Duration::from_secs(20), async || rec.count() == 40).await);
    let max = rec.max_running.lock().unwrap().clone();
    assert!(max[&capped] <= 2, "cap exceeded: {}", max[&capped]);
    // The slots the capped workspace could not use went to the other one.
    assert!(max[&other] >= 5, "other workspace only reached {}", max[&other]);
}

#[tokio::test]
async fn paused_workspace_waits_until_resumed_while_others_run() {
    let queue = connect(test_config()).await;
    let (paused, other) = (WorkspaceId::new(), WorkspaceId::new());
    queue.pause_workspace(QUEUE, paused).await.unwrap();
    push_all(&queue, vec![envelope(paused, 1), envelope(other, 2)]).await;

    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 4, ok_handler);
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 1).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rec.starts_of(1).is_empty(), "paused workspace ran");
    assert!(queue.workspace_stats(QUEUE, paused).await.unwrap().paused);

    queue.resume_workspace(QUEUE, paused).await.unwrap();
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 2).await);
}
