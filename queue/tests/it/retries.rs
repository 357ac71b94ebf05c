use std::{sync::Arc, time::Duration};

use apalis::prelude::*;
use frontdesk_jobs::WorkspaceId;
use frontdesk_queue::Lease;

use crate::helpers::*;

async fn always_fails(job: TestJob, rec: Data<Arc<Recorder>>, lease: Lease) -> Result<(), BoxDynError> {
    rec.start(&job, &lease);
    rec.finish(&job);
    Err("smtp said 451".into())
}

async fn aborts(job: TestJob, rec: Data<Arc<Recorder>>, lease: Lease) -> Result<(), BoxDynError> {
    rec.start(&job, &lease);
    rec.finish(&job);
    Err(AbortError::new("twilio 21610: recipient opted out").into())
}

/// Fails on the first delivery of every job, succeeds afterwards.
async fn fails_first_time(job: TestJob, rec: Data<Arc<Recorder>>, lease: Lease) -> Result<(), BoxDynError> {
    rec.start(&job, &lease);
    rec.finish(&job);
    if rec.starts_of(job.n).len() == 1 {
        return Err("first try fails".into());
    }
    Ok(())
}

#[tokio::test]
async fn failing_job_backs_off_exponentially_then_lands_in_the_dead_set_with_its_error() {
    // base 100 ms, factor 2, jitter 20 %: waits of >= 80, 160, 320 ms.
    let queue = connect(test_config()).await;
    let rec = Arc::new(Recorder::default());
    let w = spawn_worker!(queue, rec.clone(), 4, always_fails);
    push_all(&queue, vec![envelope_with(WorkspaceId::new(), 1, "", 4)]).await;

    assert!(eventually(Duration::from_secs(10), async || queue.stats(QUEUE).await.unwrap().dead == 1).await);
    let starts = rec.starts_of(1);
    assert_eq!(starts.len(), 4, "max_attempts is 4");
    let attempts: Vec<u32> = starts.iter().map(|(l, _)| l.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3, 4]);
    for (i, pair) in starts.windows(2).enumerate() {
        let gap = pair[1].1 - pair[0].1;
        let nominal = 100.0 * 2f64.powi(i as i32);
        assert!(gap.as_secs_f64() * 1000.0 >= nominal * 0.8 - 5.0, "gap {i} was {gap:?}");
        // Fences grow with every delivery.
        assert!(pair[1].0.fence > pair[0].0.fence);
    }
    let dead = queue.dead_jobs(QUEUE, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].reason.contains("smtp said 451"), "{}", dead[0].reason);
    assert!(dead[0].reason.contains("4 attempts"), "{}", dead[0].reason);
    w.assert_alive();
}

#[tokio::test]
async fn aborted_job_goes_straight_to_the_dead_set_with_its_reason() {
    let queue = connect(test_config()).await;
    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 4, aborts);
    push_all(&queue, vec![envelope_with(WorkspaceId::new(), 1, "", 10)]).await;

    assert!(eventually(Duration::from_secs(5), async || queue.stats(QUEUE).await.unwrap().dead == 1).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rec.starts_of(1).len(), 1, "a permanent failure must not be retried");
    let dead = queue.dead_jobs(QUEUE, 10).await.unwrap();
    assert!(dead[0].reason.contains("21610"), "{}", dead[0].reason);
    assert_eq!(queue.stats(QUEUE).await.unwrap().retrying, 0);
}

#[tokio::test]
async fn dead_jobs_can_be_retried_or_discarded_one_at_a_time_and_in_bulk() {
    let queue = connect(test_config()).await;
    let ws = WorkspaceId::new();
    {
        let rec = Arc::new(Recorder::default());
        let _w = spawn_worker!(queue, rec.clone(), 4, aborts);
        push_all(&queue, (0..6).map(|n| envelope(ws, n)).collect()).await;
        assert!(eventually(Duration::from_secs(5), async || queue.stats(QUEUE).await.unwrap().dead == 6).await);
    }
    let dead = queue.dead_jobs(QUEUE, 10).await.unwrap();
    let job = |n: u64| {
        dead.iter().find(|d| serde_json::from_str::<TestJob>(&d.payload).unwrap().n == n).unwrap().job_id.clone()
    };

    // One discarded, one retried, then the rest in bulk.
    assert_eq!(queue.discard_dead(QUEUE, &[job(0)]).await.unwrap(), 1);
    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 4, ok_handler);
    assert_eq!(queue.retry_dead(QUEUE, &[job(1)]).await.unwrap(), 1);
    assert!(eventually(Duration::from_secs(5), async || rec.starts_of(1).len() == 1).await);
    assert_eq!(rec.starts_of(1)[0].0.attempt, 1, "a retried dead job gets fresh attempts");

    assert_eq!(queue.retry_all_dead(QUEUE).await.unwrap(), 4);
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 5).await);
    assert!(rec.starts_of(0).is_empty(), "the discarded job must not run");
    // Outcomes settle just after handlers return (batched acks): wait for them.
    let settled = eventually(Duration::from_secs(5), async || {
        let stats = queue.workspace_stats(QUEUE, ws).await.unwrap();
        (stats.dead, stats.completed) == (0, 5)
    })
    .await;
    assert!(settled, "{:?}", queue.workspace_stats(QUEUE, ws).await.unwrap());
    assert_eq!(queue.discard_all_dead(QUEUE).await.unwrap(), 0);
}

#[tokio::test]
async fn retry_after_a_transient_failure_completes_the_job() {
    let queue = connect(test_config()).await;
    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 4, fails_first_time);
    push_all(&queue, (0..20).map(|n| envelope(WorkspaceId::new(), n)).collect()).await;

    assert!(eventually(Duration::from_secs(5), async || queue.stats(QUEUE).await.unwrap().completed == 20).await);
    let stats = queue.stats(QUEUE).await.unwrap();
    assert_eq!((stats.failed, stats.dead, stats.retrying), (20, 0, 0));
}
