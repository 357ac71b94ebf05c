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

/// Pushes jobs 0..n of one workspace, each counting against `limit`.
async fn push_on(queue: &frontdesk_queue::RedisQueue, ws: WorkspaceId, limit: &RateLimit, n: u64) {
    let jobs = (0..n)
        .map(|n| {
            (envelope_with(ws, n, &limit.key, 5), PushOptions { rate_limit: Some(limit.clone()), ..Default::default() })
        })
        .collect();
    queue.push_batch(jobs).await.unwrap();
}

/// Handler start times of the jobs with these numbers, in start order.
fn starts_in_order(rec: &Recorder) -> Vec<(std::time::Instant, u64)> {
    let mut starts: Vec<_> = rec.starts.lock().unwrap().iter().map(|s| (s.2, s.0.n)).collect();
    starts.sort();
    starts
}

/// Every start in `starts` is at least `per` (less scheduling jitter) after
/// the one before: a limit of one start per `per` held.
fn assert_spaced(starts: &[(std::time::Instant, u64)], per: Duration) {
    for w in starts.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(gap >= per - per / 20, "two starts {gap:?} apart under a limit of one per {per:?}: {starts:?}");
    }
}

/// A backlog deferred on one key starts in the order it was deferred, each
/// job deferred once: a job that comes back for its promised start and finds
/// the previous start ran a few ms late still gets it, instead of going to
/// the end of the line (which scrambled the order and left starts unused).
#[tokio::test]
async fn a_deferred_backlog_starts_in_order_one_per_window() {
    let queue = connect(test_config()).await;
    let ws = WorkspaceId::new();
    // One start a second, like a Twilio long code: promised starts are
    // spaced by the second plus a 50 ms margin, which is what absorbs a
    // predecessor that started a few ms late.
    let per = Duration::from_secs(1);
    let limit = RateLimit::new("twilio:+15550004", 1, per);
    push_on(&queue, ws, &limit, 5).await;
    let rec = Arc::new(Recorder::default());
    let w = spawn_worker!(queue, rec.clone(), 16, ok_handler);
    assert!(eventually(Duration::from_secs(15), async || rec.count() == 5).await);
    let starts = starts_in_order(&rec);
    assert_eq!(starts.iter().map(|s| s.1).collect::<Vec<_>>(), (0..5).collect::<Vec<_>>(), "{starts:?}");
    assert_spaced(&starts, per);
    // Each job but the first was deferred once, when the backlog arrived.
    assert_eq!(queue.stats(QUEUE).await.unwrap().rate_deferred, 4);
    w.assert_alive();
}

/// A missed-call text-back must not wait behind a campaign deferred on the
/// same sender: an urgent job takes the next free start, and the limit holds
/// for all of them together.
#[tokio::test]
async fn urgent_job_goes_ahead_of_ordinary_jobs_deferred_on_the_same_key() {
    let queue = connect(test_config()).await;
    let ws = WorkspaceId::new();
    // One start per 400 ms: like a Twilio long code, one message at a time.
    let per = Duration::from_millis(400);
    let limit = RateLimit::new("twilio:+15550003", 1, per);
    push_on(&queue, ws, &limit, 8).await;
    let rec = Arc::new(Recorder::default());
    let w = spawn_worker!(queue, rec.clone(), 16, ok_handler);
    // The first start ran; the other 7 are deferred one start apart.
    assert!(eventually(Duration::from_secs(5), async || rec.count() >= 1).await);
    assert!(eventually(Duration::from_secs(5), async || queue.stats(QUEUE).await.unwrap().rate_deferred >= 7).await);

    let urgent = PushOptions { rate_limit: Some(limit.clone().urgent()), ..Default::default() };
    queue.push_with(envelope_with(ws, 99, &limit.key, 5), urgent).await.unwrap();
    assert!(eventually(Duration::from_secs(15), async || rec.count() == 9).await);

    let starts = starts_in_order(&rec);
    let position = starts.iter().position(|s| s.1 == 99).unwrap();
    // Behind the campaign it would start last (8th from 0); it takes the
    // next free start, the second (or the third, if the second was being
    // handed out as it arrived).
    assert!(position <= 2, "urgent job started {position}th of 9: {starts:?}");
    // The campaign job whose start it took went to the end of the line (one
    // job moved, not all behind it); the rest kept their order.
    let mut campaign: Vec<u64> = starts.iter().map(|s| s.1).filter(|&n| n != 99).collect();
    let displaced = campaign.pop().unwrap();
    assert!(campaign.windows(2).all(|w| w[0] < w[1]), "campaign order: {starts:?}");
    assert!(!campaign.contains(&displaced), "{starts:?}");
    assert_spaced(&starts, per);
    w.assert_alive();
}
