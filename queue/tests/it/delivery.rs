use std::{sync::Arc, time::Duration};

use frontdesk_jobs::WorkspaceId;
use frontdesk_queue::QueueConfig;

use crate::helpers::*;

#[tokio::test]
async fn enqueued_job_runs_once_with_a_lease_naming_its_workspace() {
    let queue = connect(test_config()).await;
    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 4, ok_handler);
    let ws = WorkspaceId::new();
    push_all(&queue, vec![envelope(ws, 7)]).await;

    assert!(eventually(Duration::from_secs(5), async || rec.count() == 1).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let starts = rec.starts_of(7);
    assert_eq!(starts.len(), 1, "ran more than once");
    let lease = &starts[0].0;
    assert_eq!(lease.workspace_id, ws);
    assert_eq!((lease.attempt, lease.fence), (1, 1));
    assert!(eventually(Duration::from_secs(2), async || queue.stats(QUEUE).await.unwrap().completed == 1).await);
}

#[tokio::test]
async fn idle_worker_wakes_on_push_without_waiting_for_its_poll_interval() {
    // With a one-minute safety poll, only the notification can deliver the
    // job within the five seconds allowed.
    let queue = connect(QueueConfig { idle_poll: Duration::from_secs(60), ..test_config() }).await;
    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 4, ok_handler);
    tokio::time::sleep(Duration::from_millis(500)).await; // let it go idle

    push_all(&queue, vec![envelope(WorkspaceId::new(), 1)]).await;
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 1).await);
}

#[tokio::test]
async fn scheduled_job_does_not_run_before_its_run_at() {
    let queue = connect(QueueConfig { idle_poll: Duration::from_secs(60), ..test_config() }).await;
    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 4, ok_handler);
    let run_at = chrono::Utc::now() + chrono::Duration::milliseconds(400);
    let mut e = envelope(WorkspaceId::new(), 1);
    e.run_at = Some(run_at);
    push_all(&queue, vec![e]).await;

    // Woken by the timer for the earliest scheduled job, not by the 60 s poll.
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 1).await);
    let started = chrono::Utc::now();
    let (_, t) = rec.starts_of(1)[0];
    let started_at = started - chrono::Duration::from_std(t.elapsed()).unwrap();
    assert!(started_at >= run_at - chrono::Duration::milliseconds(2), "ran early: {started_at} < {run_at}");
}

#[tokio::test]
async fn monitor_runs_ordinary_workers_on_this_backend_and_shuts_down_cleanly() {
    use apalis::prelude::*;
    let queue = connect(test_config()).await;
    let rec = Arc::new(Recorder::default());
    let (q, r) = (queue.clone(), rec.clone());
    let monitor = Monitor::new().register(move |i| {
        WorkerBuilder::new(format!("monitored-{i}"))
            .backend(q.backend_for::<TestJob>(QUEUE))
            .data(r.clone())
            .concurrency(4)
            .build(ok_handler)
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(monitor.run_with_signal(async move {
        let _ = stop_rx.await;
        Ok(())
    }));
    push_all(&queue, (0..5).map(|n| envelope(WorkspaceId::new(), n)).collect()).await;
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 5).await);

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run).await.expect("monitor shut down").unwrap().unwrap();
    // The worker flushed its outcomes on the way out.
    let stats = queue.stats(QUEUE).await.unwrap();
    assert_eq!((stats.completed, stats.in_flight), (5, 0));
}

async fn slow_handler(
    job: TestJob,
    rec: apalis::prelude::Data<Arc<Recorder>>,
    lease: frontdesk_queue::Lease,
) -> Result<(), apalis::prelude::BoxDynError> {
    rec.start(&job, &lease);
    tokio::time::sleep(Duration::from_millis(300)).await;
    rec.finish(&job);
    Ok(())
}

#[tokio::test]
async fn graceful_shutdown_hands_back_unstarted_jobs_without_spending_an_attempt() {
    use apalis::prelude::*;
    let queue = connect(test_config()).await;
    let ws = WorkspaceId::new();
    push_all(&queue, (0..10).map(|n| envelope(ws, n)).collect()).await;
    let rec = Arc::new(Recorder::default());
    let (q, r) = (queue.clone(), rec.clone());
    let monitor = Monitor::new().register(move |_| {
        WorkerBuilder::new("graceful")
            .backend(q.backend_for::<TestJob>(QUEUE))
            .data(r.clone())
            .concurrency(1)
            .build(slow_handler)
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(monitor.run_with_signal(async move {
        let _ = stop_rx.await;
        Ok(())
    }));
    // One job running, the rest of the batch leased and buffered.
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 1).await);
    assert!(queue.stats(QUEUE).await.unwrap().in_flight > 1);
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run).await.unwrap().unwrap().unwrap();

    let stats = queue.stats(QUEUE).await.unwrap();
    assert_eq!(stats.in_flight, 0, "leases left behind");
    assert_eq!(stats.completed + stats.waiting, 10);
    let done = rec.count();
    let rec2 = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec2.clone(), 8, ok_handler);
    assert!(eventually(Duration::from_secs(5), async || rec2.count() + done >= 10).await);
    for (_, lease, _) in rec2.starts.lock().unwrap().iter() {
        assert_eq!(lease.attempt, 1, "a handed-back job lost an attempt");
    }
}
