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

/// A missed-call text-back must not wait behind a campaign deferred on the
/// same sender: an urgent job takes the next free start (the ordinary job
/// meant for it goes to the end of the line), and the limit still holds for
/// all of them together.
#[tokio::test]
async fn urgent_job_goes_ahead_of_ordinary_jobs_deferred_on_the_same_key() {
    let queue = connect(test_config()).await;
    let ws = WorkspaceId::new();
    // One start per 250 ms: like a Twilio long code, one message at a time.
    let limit = RateLimit::new("twilio:+15550003", 1, Duration::from_millis(250));
    let campaign = (0..12)
        .map(|n| {
            (envelope_with(ws, n, &limit.key, 5), PushOptions { rate_limit: Some(limit.clone()), ..Default::default() })
        })
        .collect();
    queue.push_batch(campaign).await.unwrap();
    let rec = Arc::new(Recorder::default());
    let w = spawn_worker!(queue, rec.clone(), 16, ok_handler);
    // The first start ran; the other 11 are deferred one start apart.
    assert!(eventually(Duration::from_secs(5), async || rec.count() >= 1).await);
    assert!(eventually(Duration::from_secs(5), async || queue.stats(QUEUE).await.unwrap().rate_deferred >= 11).await);

    let urgent = PushOptions { rate_limit: Some(limit.clone().urgent()), ..Default::default() };
    queue.push_with(envelope_with(ws, 99, &limit.key, 5), urgent).await.unwrap();
    assert!(eventually(Duration::from_secs(10), async || rec.count() == 13).await);

    let mut starts: Vec<_> = rec.starts.lock().unwrap().iter().map(|s| (s.2, s.0.n)).collect();
    starts.sort();
    let position = starts.iter().position(|s| s.1 == 99).unwrap();
    // Behind the campaign it would start last (12th from 0); it takes the
    // next free start, the second (or the third, if the second was being
    // handed out as it arrived).
    assert!(position <= 2, "urgent job started {position}th of 13: {starts:?}");
    for w in starts.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(gap >= Duration::from_millis(250), "two starts {gap:?} apart: the limit must hold for urgent jobs too");
    }
    w.assert_alive();
}
