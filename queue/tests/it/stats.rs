use std::{sync::Arc, time::Duration};

use frontdesk_jobs::WorkspaceId;
use frontdesk_queue::QueueConfig;

use crate::helpers::*;

#[tokio::test]
async fn stats_count_waiting_scheduled_in_flight_and_oldest_age_per_queue_and_workspace() {
    let queue = connect(QueueConfig { workspace_concurrency: 2, ..test_config() }).await;
    let (a, b) = (WorkspaceId::new(), WorkspaceId::new());
    let mut jobs: Vec<_> = (0..5).map(|n| envelope(a, n)).collect();
    jobs.push(envelope(b, 10));
    let mut later = envelope(b, 11);
    later.run_at = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    jobs.push(later);
    push_all(&queue, jobs).await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let s = queue.stats(QUEUE).await.unwrap();
    assert_eq!((s.waiting, s.scheduled, s.in_flight, s.enqueued), (6, 1, 0, 7));
    assert!(s.oldest_waiting_age.unwrap() >= Duration::from_millis(50));
    let sa = queue.workspace_stats(QUEUE, a).await.unwrap();
    assert_eq!((sa.waiting, sa.scheduled), (5, 0));
    let sb = queue.workspace_stats(QUEUE, b).await.unwrap();
    assert_eq!((sb.waiting, sb.scheduled), (1, 1));

    // A worker whose handler never returns holds the cap of 2 for `a`.
    async fn hangs(
        job: TestJob,
        rec: apalis::prelude::Data<Arc<Recorder>>,
        lease: frontdesk_queue::Lease,
    ) -> Result<(), apalis::prelude::BoxDynError> {
        rec.start(&job, &lease);
        std::future::pending::<()>().await;
        Ok(())
    }
    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 16, hangs);
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 3).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rec.count(), 3, "a's cap of 2 plus b's one ready job");
    let s = queue.stats(QUEUE).await.unwrap();
    assert_eq!((s.waiting, s.in_flight), (3, 3));
    let sa = queue.workspace_stats(QUEUE, a).await.unwrap();
    assert_eq!((sa.waiting, sa.in_flight), (3, 2));
}
