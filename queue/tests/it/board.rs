//! apalis-board's query traits on `FairBackend`, against real Redis.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use apalis::prelude::*;
use apalis_core::{
    backend::{Filter, ListAllTasks, ListQueues, ListTasks, ListWorkers, Metrics, Statistic},
    task::status::Status,
};
use frontdesk_jobs::{Envelope, WorkspaceId};
use frontdesk_queue::{Lease, PushOptions, QueueError, RedisQueue};
use serde_json::Value;

use crate::helpers::*;

const OTHER: &str = "test-jobs-other";

fn stat(stats: &[Statistic], title: &str) -> String {
    stats.iter().find(|s| s.title == title).unwrap_or_else(|| panic!("no {title} in {stats:?}")).value.clone()
}

fn filter(status: Option<Status>, page: u32, size: u32) -> Filter {
    Filter { status, page, page_size: Some(size) }
}

fn n_of(task: &Task<Value>) -> u64 {
    task.args["n"].as_u64().unwrap()
}

fn id_of(task: &Task<Value>) -> String {
    task.ctx().task_id().unwrap().to_string()
}

async fn push_ids(queue: &RedisQueue, jobs: Vec<(Envelope, &str)>) {
    let jobs = jobs
        .into_iter()
        .map(|(e, id)| (e, PushOptions { job_id: Some(id.to_owned()), ..Default::default() }))
        .collect();
    queue.push_batch(jobs).await.unwrap();
}

/// Pages through `list` until a short page, asserting no id comes twice.
async fn all_pages<F, Fut>(size: u32, mut list: F) -> Vec<Task<Value>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<Vec<Task<Value>>, QueueError>>,
{
    let mut out = Vec::new();
    for page in 1.. {
        let got = list(page).await.unwrap();
        assert!(got.len() <= size as usize);
        let short = got.len() < size as usize;
        out.extend(got);
        if short {
            break;
        }
    }
    let ids: HashSet<String> = out.iter().map(id_of).collect();
    assert_eq!(ids.len(), out.len(), "a job came twice");
    out
}

async fn ok_or_abort(job: TestJob, rec: Data<Arc<Recorder>>, lease: Lease) -> Result<(), BoxDynError> {
    rec.start(&job, &lease);
    rec.finish(&job);
    if job.n >= 100 {
        return Err(AbortError::new("recipient opted out").into());
    }
    Ok(())
}

async fn hangs(job: TestJob, rec: Data<Arc<Recorder>>, lease: Lease) -> Result<(), BoxDynError> {
    rec.start(&job, &lease);
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::test]
async fn board_metrics_queues_and_workers_match_what_was_enqueued_processed_and_killed() {
    let queue = connect(test_config()).await;
    let ws = WorkspaceId::new();
    let mut jobs: Vec<_> = (0..6).map(|n| envelope(ws, n)).collect();
    jobs.extend((100..102).map(|n| envelope(ws, n)));
    for n in 200..203 {
        let mut later = envelope(ws, n);
        later.run_at = Some(chrono::Utc::now() + chrono::Duration::hours(1));
        jobs.push(later);
    }
    push_all(&queue, jobs).await;
    let mut other = envelope(ws, 300);
    other.queue = OTHER;
    push_all(&queue, vec![other.clone(), other]).await;

    let rec = Arc::new(Recorder::default());
    let w = spawn_worker!(queue, rec.clone(), 4, ok_or_abort);
    assert!(
        eventually(Duration::from_secs(10), async || {
            let s = queue.stats(QUEUE).await.unwrap();
            s.completed == 6 && s.dead == 2
        })
        .await
    );
    let backend = queue.backend_for::<TestJob>(QUEUE);

    let s = backend.fetch_by_queue().await.unwrap();
    assert_eq!(stat(&s, "DONE_JOBS"), "6");
    assert_eq!(stat(&s, "FAILED_JOBS"), "2");
    assert_eq!(stat(&s, "DEAD_TOTAL"), "2");
    assert_eq!(stat(&s, "SCHEDULED_JOBS"), "3");
    assert_eq!(stat(&s, "PENDING_JOBS"), "0");
    assert_eq!(stat(&s, "RUNNING_JOBS"), "0");
    assert_eq!(stat(&s, "ENQUEUED_TOTAL"), "11");
    assert_eq!(stat(&s, "SUCCESS_RATE"), "75.00");

    let g = backend.global().await.unwrap();
    assert_eq!(stat(&g, "ENQUEUED_TOTAL"), "13", "both queues");
    assert_eq!(stat(&g, "PENDING_JOBS"), "2", "the other queue has no worker");
    assert_eq!(stat(&g, "DONE_JOBS"), "6");

    // Workers register with their first heartbeat.
    assert!(eventually(Duration::from_secs(5), async || backend.list_workers().await.unwrap().len() == 1).await);
    let workers = backend.list_workers().await.unwrap();
    let me = &workers[0];
    assert!(me.id.starts_with("test-worker-"), "{}", me.id);
    assert_eq!((me.queue.as_str(), me.backend.as_str()), (QUEUE, "frontdesk-queue"));
    let now = chrono::Utc::now().timestamp() as u64;
    assert!(me.started_at <= me.last_heartbeat + 1 && me.last_heartbeat + 5 >= now, "{me:?}");
    let all = backend.list_all_workers().await.unwrap();
    assert_eq!(all.iter().map(|w| w.id.clone()).collect::<Vec<_>>(), vec![me.id.clone()]);

    let queues = backend.list_queues().await.unwrap();
    let names: Vec<&str> = queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, vec![QUEUE, OTHER]);
    assert_eq!(stat(&queues[0].stats, "DONE_JOBS"), "6");
    assert_eq!(queues[0].workers, vec![me.id.clone()]);
    assert_eq!(stat(&queues[1].stats, "PENDING_JOBS"), "2");
    assert!(queues[1].workers.is_empty());

    // Killed jobs are listed as Failed, with their reason.
    let dead = backend.list_tasks(&filter(Some(Status::Failed), 1, 10)).await.unwrap();
    let mut ns: Vec<u64> = dead.iter().map(n_of).collect();
    ns.sort();
    assert_eq!(ns, vec![100, 101]);
    for t in &dead {
        assert_eq!(t.ctx().status(), Status::Failed);
        assert!(t.ctx().metadata().get("reason").unwrap().contains("recipient opted out"));
        assert_eq!(t.ctx().metadata().get("workspace"), Some(ws.to_string().as_str()));
        assert!(t.ctx().done_at().is_some());
    }

    // A stopped worker leaves the set at once.
    w.assert_alive();
    drop(w);
    assert!(eventually(Duration::from_secs(5), async || backend.list_workers().await.unwrap().is_empty()).await);
}

#[tokio::test]
async fn board_lists_each_status_in_pages_that_neither_repeat_nor_skip() {
    let queue = connect(test_config()).await;
    let (a, b, c, d) = (WorkspaceId::new(), WorkspaceId::new(), WorkspaceId::new(), WorkspaceId::new());
    // Pending: 7 + 3 + 5 jobs in three workspaces, kept waiting by pausing them.
    let mut pending_ids = HashSet::new();
    for (ws, range) in [(a, 0..7), (b, 10..13), (c, 20..25)] {
        let ids: Vec<String> = range.clone().map(|n| format!("p-{n}")).collect();
        push_ids(&queue, range.clone().zip(&ids).map(|(n, id)| (envelope(ws, n), id.as_str())).collect()).await;
        pending_ids.extend(ids);
        queue.pause_workspace(QUEUE, ws).await.unwrap();
    }
    // Queued: four scheduled jobs, pushed out of run_at order.
    for (n, mins) in [(30, 40), (31, 10), (32, 30), (33, 20)] {
        let mut e = envelope(a, n);
        e.run_at = Some(chrono::Utc::now() + chrono::Duration::minutes(mins));
        push_ids(&queue, vec![(e, &format!("q-{n}"))]).await;
    }
    // The other queue: two pending jobs.
    let mut other = envelope(a, 50);
    other.queue = OTHER;
    let mut other2 = other.clone();
    other2.payload["n"] = 51.into();
    push_ids(&queue, vec![(other, "o-50"), (other2, "o-51")]).await;
    // Running: d's three jobs, held by a worker whose handler never returns.
    push_ids(&queue, (40..43).map(|n| (envelope(d, n), ["r-40", "r-41", "r-42"][n as usize - 40])).collect()).await;
    let rec = Arc::new(Recorder::default());
    let _w = spawn_worker!(queue, rec.clone(), 8, hangs);
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 3).await);
    let backend = queue.backend_for::<TestJob>(QUEUE);
    let list = |status: Option<Status>, size: u32| {
        let backend = &backend;
        move |page| {
            let f = filter(status.clone(), page, size);
            async move { backend.list_tasks(&f).await }
        }
    };

    // Pending, 4 a page: 15 jobs in pages of 4, 4, 4, 3, each workspace FIFO.
    let pending = all_pages(4, list(Some(Status::Pending), 4)).await;
    assert_eq!(pending.iter().map(id_of).collect::<HashSet<_>>(), pending_ids);
    let mut by_ws: HashMap<String, Vec<u64>> = HashMap::new();
    for t in &pending {
        assert_eq!(t.ctx().status(), Status::Pending);
        assert_eq!(t.ctx().queue().map(|q| q.as_ref()), Some(QUEUE));
        assert_eq!(t.ctx().metadata().get("state"), Some("waiting"));
        by_ws.entry(t.ctx().metadata().get("workspace").unwrap().to_owned()).or_default().push(n_of(t));
    }
    assert_eq!(by_ws[&a.to_string()], (0..7).collect::<Vec<_>>());
    assert_eq!(by_ws[&b.to_string()], (10..13).collect::<Vec<_>>());
    assert_eq!(by_ws[&c.to_string()], (20..25).collect::<Vec<_>>());
    assert!(backend.list_tasks(&filter(Some(Status::Pending), 5, 4)).await.unwrap().is_empty());

    // Queued, 3 a page: by run_at.
    let queued = all_pages(3, list(Some(Status::Queued), 3)).await;
    assert_eq!(queued.iter().map(n_of).collect::<Vec<_>>(), vec![31, 33, 32, 30]);
    for t in &queued {
        assert_eq!(t.ctx().status(), Status::Queued);
        assert_eq!(t.ctx().metadata().get("state"), Some("scheduled"));
        assert!(t.ctx().run_at().unwrap() > chrono::Utc::now().timestamp() as u64);
    }

    // Running, 2 a page: the three leased jobs with their fences.
    let running = all_pages(2, list(Some(Status::Running), 2)).await;
    let mut ns: Vec<u64> = running.iter().map(n_of).collect();
    ns.sort();
    assert_eq!(ns, vec![40, 41, 42]);
    for t in &running {
        assert_eq!(t.ctx().status(), Status::Running);
        assert_eq!(t.ctx().attempt(), 1);
        assert!(t.ctx().metadata().get("fence").unwrap().parse::<u64>().unwrap() > 0);
        assert_eq!(t.ctx().metadata().get("state"), Some("running"));
    }

    // No status: all 22, running first, then queued, then pending; pages of 5.
    let all = all_pages(5, list(None, 5)).await;
    assert_eq!(all.len(), 3 + 4 + 15);
    let statuses: Vec<Status> = all.iter().map(|t| t.ctx().status()).collect();
    let expected: Vec<Status> = [(Status::Running, 3), (Status::Queued, 4), (Status::Pending, 15)]
        .into_iter()
        .flat_map(|(s, k)| std::iter::repeat_n(s, k))
        .collect();
    assert_eq!(statuses, expected);

    // Every queue: 15 + 2 pending, pages of 4, queues in name order.
    let across = all_pages(4, |page| {
        let f = filter(Some(Status::Pending), page, 4);
        let backend = &backend;
        async move { backend.list_all_tasks(&f).await }
    })
    .await;
    assert_eq!(across.len(), 17);
    let queues: Vec<&str> = across.iter().map(|t| t.ctx().queue().unwrap().as_ref()).collect();
    assert_eq!(&queues[..15], &[QUEUE; 15]);
    assert_eq!(&queues[15..], &[OTHER; 2]);
    assert_eq!(across[15..].iter().map(id_of).collect::<Vec<_>>(), vec!["o-50", "o-51"]);

    // What is not indexed is refused, not faked.
    for status in [Status::Done, Status::Killed] {
        let err = backend.list_tasks(&filter(Some(status), 1, 10)).await.unwrap_err();
        assert!(matches!(err, QueueError::Unsupported(_)), "{err}");
    }
    assert!(backend.list_tasks(&filter(None, 1, 5000)).await.is_err(), "page size is bounded");
}
