use std::{sync::Arc, time::Duration};

use std::collections::HashMap;

use frontdesk_jobs::{Enqueued, JobQueue, Jobs, WorkspaceId};
use frontdesk_queue::{PushOptions, QueueConfig, RateLimit};

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

/// Jobs with no options travel as a short argument group and jobs with
/// options as a longer one, in the same script call; each job must keep its
/// own options whatever its neighbours carry.
#[tokio::test]
async fn one_batch_mixing_plain_and_optioned_jobs_keeps_each_jobs_options() {
    let queue = connect(test_config()).await;
    let ws = WorkspaceId::new();
    let with_id = |id: &str| PushOptions { job_id: Some(id.into()), ..Default::default() };
    let keyed = |n| {
        let mut e = envelope(ws, n);
        e.dedupe_key = Some(format!("sequence:{ws}"));
        e
    };
    assert_eq!(queue.push_with(envelope(ws, 100), with_id("seen")).await.unwrap(), Enqueued::Created);
    assert_eq!(queue.push(keyed(101)).await.unwrap(), Enqueued::Created);

    let mut later = envelope(ws, 5);
    later.run_at = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    let limited = PushOptions {
        job_id: Some("limited".into()),
        rate_limit: Some(RateLimit::new("twilio:abc", 7, Duration::from_secs(2))),
    };
    let out = queue
        .push_batch(vec![
            (envelope(ws, 1), PushOptions::default()),
            (envelope(ws, 2), with_id("seen")),
            (keyed(3), PushOptions::default()),
            (envelope(ws, 4), limited),
            (later, PushOptions::default()),
            (envelope(ws, 6), with_id("fresh")),
            (envelope(ws, 7), PushOptions::default()),
        ])
        .await
        .unwrap();
    use Enqueued::{Created, Duplicate};
    assert_eq!(out, vec![Created, Duplicate, Duplicate, Created, Created, Created, Created]);

    let mut conn = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let job = |id: &str| format!("{{{}:{QUEUE}}}:job:{id}", queue.config().namespace);
    let hash: HashMap<String, String> = redis::cmd("HGETALL").arg(job("limited")).query_async(&mut conn).await.unwrap();
    assert_eq!(hash.get("rl_key").map(String::as_str), Some("twilio:abc"));
    assert_eq!(hash.get("rl_max").map(String::as_str), Some("7"));
    assert_eq!(hash.get("rl_win").map(String::as_str), Some("2000"));
    assert_eq!(hash.get("ws"), Some(&ws.to_string()));
    assert!(!hash.contains_key("state"), "a job that has not run has no state field: {hash:?}");
    let plain: HashMap<String, String> = redis::cmd("HGETALL").arg(job("fresh")).query_async(&mut conn).await.unwrap();
    assert!(!plain.contains_key("rl_key"), "a job without a limit carries none: {plain:?}");
    assert_eq!(serde_json::from_str::<TestJob>(&plain["payload"]).unwrap().n, 6);

    let stats = queue.stats(QUEUE).await.unwrap();
    // 100, 101, then 1, 4, 6 and 7 wait; 5 is scheduled; 2 and 3 collapsed.
    assert_eq!((stats.waiting, stats.scheduled, stats.duplicates, stats.enqueued), (6, 1, 2, 7));
    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 4, ok_handler);
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 6).await);
    let mut ran: Vec<u64> = rec.starts.lock().unwrap().iter().map(|s| s.0.n).collect();
    ran.sort_unstable();
    assert_eq!(ran, vec![1, 4, 6, 7, 100, 101]);
}
