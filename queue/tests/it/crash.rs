use std::{
    collections::HashMap,
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use frontdesk_jobs::WorkspaceId;
use frontdesk_queue::{Lease, QueueConfig};

use crate::helpers::*;

/// `cargo test` builds the examples next to the test binary's `deps` dir.
fn crash_worker_path() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join("crash_worker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_worker_jobs_are_redelivered_within_the_lease_and_its_late_acks_are_rejected() {
    let lease = Duration::from_secs(2);
    let config = QueueConfig {
        lease,
        heartbeat: Duration::from_millis(500),
        idle_poll: Duration::from_millis(500),
        ..test_config()
    };
    let queue = connect(config.clone()).await;
    let ws = WorkspaceId::new();
    push_all(&queue, (0..60).map(|n| envelope(ws, n)).collect()).await;

    let mut child = Command::new(crash_worker_path())
        .env("FD_REDIS_URL", redis_url())
        .env("FD_NAMESPACE", &config.namespace)
        .env("FD_QUEUE", QUEUE)
        .env("FD_LEASE_MS", lease.as_millis().to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn crash_worker (built by cargo test as an example)");

    let log_key = format!("{{{}:{QUEUE}}}:child-starts", config.namespace);
    let mut conn = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    // Mid-batch: the first 8 finished, the next 8 are running.
    let started = eventually(Duration::from_secs(20), async || {
        let n: usize = redis::cmd("LLEN").arg(&log_key).query_async(&mut conn.clone()).await.unwrap();
        n >= 12
    })
    .await;
    assert!(started, "child worker did not start jobs");
    child.kill().expect("SIGKILL the child");
    let killed_at = Instant::now();
    child.wait().unwrap();

    let child_log: Vec<String> =
        redis::cmd("LRANGE").arg(&log_key).arg(0).arg(-1).query_async(&mut conn).await.unwrap();
    let child_leases: HashMap<String, u64> = child_log
        .iter()
        .map(|e| {
            let mut p = e.split('|');
            (p.next().unwrap().to_owned(), p.next().unwrap().parse().unwrap())
        })
        .collect();
    let before = queue.stats(QUEUE).await.unwrap();
    assert!(before.in_flight > 0, "the child held no leases when killed");

    let rec = Arc::new(Recorder::default());
    let w = spawn_worker!(queue, rec.clone(), 8, ok_handler);
    let all_done =
        eventually(Duration::from_secs(30), async || queue.stats(QUEUE).await.unwrap().completed == 60).await;
    let stats = queue.stats(QUEUE).await.unwrap();
    assert!(all_done, "{} of 60 completed", stats.completed);
    assert_eq!((stats.in_flight, stats.waiting, stats.dead), (0, 0, 0));
    assert!(stats.redelivered > 0);

    // Jobs the child had started but not acked came back with a newer fence,
    // within the lease plus one idle poll (and a second of slack).
    let starts = rec.starts.lock().unwrap().clone();
    let mut redelivered = 0;
    for (_, lease_seen, at) in &starts {
        if let Some(&child_fence) = child_leases.get(&lease_seen.job_id)
            && lease_seen.attempt >= 2
        {
            redelivered += 1;
            assert!(lease_seen.fence > child_fence);
            let after_kill = at.saturating_duration_since(killed_at);
            assert!(after_kill <= lease + Duration::from_millis(1500), "re-delivered {after_kill:?} after the kill");
        }
    }
    assert!(redelivered > 0, "no job the child was running came back");

    // The killed holder's acks, arriving late, are all rejected.
    let mut rejected = 0;
    for (_, lease_seen, _) in starts.iter().filter(|s| s.1.attempt >= 2) {
        if let Some(&child_fence) = child_leases.get(&lease_seen.job_id) {
            let stale = Lease { fence: child_fence, ..lease_seen.clone() };
            assert!(!queue.complete(&stale).await.unwrap(), "stale ack accepted");
            rejected += 1;
        }
    }
    assert!(rejected > 0);
    assert_eq!(queue.stats(QUEUE).await.unwrap().completed, 60, "a stale ack changed the count");
    w.assert_alive();
}
