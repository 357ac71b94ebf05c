use std::{sync::Arc, time::Duration};

use frontdesk_jobs::{Enqueued, JobQueue, Jobs, WorkspaceId};
use frontdesk_queue::{PushOptions, QueueConfig};

use crate::helpers::*;

#[tokio::test]
async fn same_dedupe_key_collapses_into_one_job_until_its_ttl_expires() {
    let queue = connect(QueueConfig { dedupe_ttl: Duration::from_millis(700), ..test_config() }).await;
    let ws = WorkspaceId::new();
    let keyed = |n| {
        let mut e = envelope(ws, n);
        e.dedupe_key = Some(format!("followup:{ws}:42"));
        e
    };
    assert_eq!(queue.push(keyed(1)).await.unwrap(), Enqueued::Created);
    assert_eq!(queue.push(keyed(2)).await.unwrap(), Enqueued::Duplicate);

    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 4, ok_handler);
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 1).await);
    // Still collapsing after the first one ran: the key lives for its TTL.
    assert_eq!(queue.push(keyed(3)).await.unwrap(), Enqueued::Duplicate);

    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(queue.push(keyed(4)).await.unwrap(), Enqueued::Created);
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 2).await);
    let ran: Vec<u64> = rec.starts.lock().unwrap().iter().map(|s| s.0.n).collect();
    assert_eq!(ran, vec![1, 4]);
    assert_eq!(queue.stats(QUEUE).await.unwrap().duplicates, 2);
}

#[tokio::test]
async fn same_job_id_is_a_duplicate_even_through_the_jobs_handle() {
    let queue = connect(test_config()).await;
    let ws = WorkspaceId::new();
    let opts = PushOptions { job_id: Some("outbox-123".into()), ..Default::default() };
    assert_eq!(queue.push_with(envelope(ws, 1), opts.clone()).await.unwrap(), Enqueued::Created);
    assert_eq!(queue.push_with(envelope(ws, 2), opts).await.unwrap(), Enqueued::Duplicate);

    // The api's handle goes through the same backend.
    let jobs = Jobs::new(queue.clone());
    assert_eq!(jobs.enqueue_envelope(envelope(ws, 3)).await.unwrap(), Enqueued::Created);
    assert_eq!(queue.stats(QUEUE).await.unwrap().waiting, 2);
}

#[tokio::test]
async fn finished_job_data_expires_after_the_retention_ttl() {
    let queue = connect(QueueConfig { finished_ttl: Duration::from_millis(600), ..test_config() }).await;
    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 4, ok_handler);
    push_all(&queue, vec![envelope(WorkspaceId::new(), 1)]).await;
    assert!(eventually(Duration::from_secs(5), async || queue.stats(QUEUE).await.unwrap().completed == 1).await);

    let job_id = rec.starts_of(1)[0].0.job_id.clone();
    let key = format!("{{{}:{QUEUE}}}:job:{job_id}", queue.config().namespace);
    let mut conn = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!(ttl > 0 && ttl <= 600, "finished job must carry the retention ttl, got {ttl}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let exists: bool = redis::cmd("EXISTS").arg(&key).query_async(&mut conn).await.unwrap();
    assert!(!exists, "finished job data must be gone after the ttl");
}
