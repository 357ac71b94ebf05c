use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use frontdesk_jobs::WorkspaceId;
use frontdesk_queue::QueueConfig;
use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use crate::helpers::*;

/// A TCP proxy in front of Redis that can cut every connection and refuse
/// new ones, which is what a worker sees when Redis restarts.
struct Outage {
    addr: String,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Outage {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("redis://{}", listener.local_addr().unwrap());
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (d, c) = (down.clone(), conns.clone());
        let upstream = redis_url().trim_start_matches("redis://").trim_end_matches('/').to_owned();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                if d.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused, as far as the client can tell
                }
                let upstream = upstream.clone();
                c.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self { addr, down, conns, accept }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_survives_a_redis_outage_and_finishes_work_pushed_during_it() {
    let outage = Outage::start().await;
    let config = QueueConfig { idle_poll: Duration::from_millis(300), ..test_config() };
    let through_proxy = frontdesk_queue::RedisQueue::connect(&outage.addr, config.clone()).await.unwrap();
    let direct = connect(config).await;
    let rec = Arc::new(Recorder::default());
    let w = spawn_worker!(through_proxy, rec.clone(), 4, ok_handler);
    let ws = WorkspaceId::new();

    push_all(&direct, (0..10).map(|n| envelope(ws, n)).collect()).await;
    assert!(eventually(Duration::from_secs(5), async || rec.count() == 10).await);

    outage.cut();
    push_all(&direct, (10..20).map(|n| envelope(ws, n)).collect()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    w.assert_alive();
    assert_eq!(rec.count(), 10, "ran jobs without a connection?");

    outage.restore();
    assert!(eventually(Duration::from_secs(15), async || rec.count() == 20).await, "{} of 20 ran", rec.count());
    assert!(eventually(Duration::from_secs(5), async || direct.stats(QUEUE).await.unwrap().completed == 20).await);
    w.assert_alive();
}
