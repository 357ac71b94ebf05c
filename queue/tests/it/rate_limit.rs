use std::{sync::Arc, time::Duration};

use frontdesk_jobs::WorkspaceId;
use frontdesk_queue::{PushOptions, RateLimit};

use crate::helpers::*;

#[tokio::test]
async fn five_per_second_limit_is_never_exceeded_while_other_keys_run_at_full_speed() {
    let queue = connect(test_config()).await;
    let ws = WorkspaceId::new();
    let limited = RateLimit::new("twilio:+15550001", 5, Duration::from_secs(1));
    let roomy = RateLimit::new("twilio:+15550002", 10_000, Duration::from_secs(1));
    let mut jobs = Vec::new();
    for n in 0..25 {
        jobs.push((
            envelope_with(ws, n, &limited.key, 5),
            PushOptions { rate_limit: Some(limited.clone()), ..Default::default() },
        ));
    }
    for n in 100..400 {
        jobs.push((
            envelope_with(WorkspaceId::new(), n, &roomy.key, 5),
            PushOptions { rate_limit: Some(roomy.clone()), ..Default::default() },
        ));
    }
    queue.push_batch(jobs).await.unwrap();

    let rec = Arc::new(Recorder::default());
    let w = spawn_worker!(queue, rec.clone(), 16, ok_handler);
    assert!(eventually(Duration::from_secs(15), async || rec.count() == 325).await);

    let starts = rec.starts.lock().unwrap().clone();
    let mut limited_starts: Vec<_> = starts.iter().filter(|s| s.0.key == limited.key).map(|s| s.2).collect();
    limited_starts.sort();
    assert_eq!(limited_starts.len(), 25);
    // Any six consecutive handler starts span at least a second, so no
    // one-second window holds more than five.
    for w in limited_starts.windows(6) {
        let span = w[5] - w[0];
        assert!(span >= Duration::from_secs(1), "6 starts within {span:?}");
    }
    // The other key was not held back: its 300 jobs all ran before the
    // limited key, at 5/s, could have started its last job (4 s in).
    let last_roomy = starts.iter().filter(|s| s.0.key == roomy.key).map(|s| s.2).max().unwrap();
    assert!(last_roomy < limited_starts[24], "unlimited jobs waited behind the limited key");
    assert!(queue.stats(QUEUE).await.unwrap().rate_deferred >= 20);
    w.assert_alive();
}
