//! Knowing when Redis lost its data, and what the queue needs afterwards.
//!
//! Redis here keeps nothing on disk, and a production Redis can fail over
//! to a replica that missed writes. Postgres (the outbox) holds every job
//! that is not done, so nothing is lost, but the queue must notice: an
//! epoch key marks the namespace's data; when it is gone, the data is gone.
//! Fencing tokens must then start above every token a delivery recorded,
//! or a new delivery could not take over a message a dead worker left
//! mid-send.

use frontdesk_jobs::queue;

use crate::{QueueError, RedisQueue};

/// What [`RedisQueue::check_epoch`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Epoch {
    /// The namespace's data is the one this process saw before.
    Same,
    /// No epoch was there (first start, or the data was lost) or another
    /// process already replaced a lost one: treat the data as lost.
    Lost,
}

impl RedisQueue {
    /// Compares the namespace's epoch with the one this process last saw,
    /// creating it when it is missing. `seen` is kept by the caller.
    pub async fn check_epoch(&self, seen: &mut Option<String>) -> Result<Epoch, QueueError> {
        let key = format!("{{{}}}:epoch", self.config().namespace);
        let ours = uuid::Uuid::new_v4().simple().to_string();
        // SET NX GET: the existing value, or nil when ours was just set.
        let existing: Option<String> =
            redis::cmd("SET").arg(&key).arg(&ours).arg("NX").arg("GET").query_async(&mut self.conn()).await?;
        let current = existing.unwrap_or(ours);
        let same = seen.as_deref() == Some(current.as_str());
        *seen = Some(current);
        Ok(if same { Epoch::Same } else { Epoch::Lost })
    }

    /// Makes every queue's next fencing token larger than `floor` (a
    /// counter already above it is left alone).
    pub async fn raise_fence_floor(&self, floor: u64) -> Result<(), QueueError> {
        let script = redis::Script::new(
            "local c = tonumber(redis.call('GET', KEYS[1]) or '0') \
             if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 1",
        );
        // One call per queue: each queue's keys live in its own slot.
        for name in queue::ALL {
            let key = format!("{}:fence", self.keys(name).base());
            let _: i64 = script.key(key).arg(floor).invoke_async(&mut self.conn()).await?;
        }
        Ok(())
    }

    /// Whether each `(queue, job id)` is in Redis (waiting, scheduled, in
    /// flight, or finished within its retention).
    pub async fn jobs_exist(&self, jobs: &[(&str, &str)]) -> Result<Vec<bool>, QueueError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (queue, id) in jobs {
            pipe.exists(self.keys(queue).job(id));
        }
        Ok(pipe.query_async(&mut self.conn()).await?)
    }
}
