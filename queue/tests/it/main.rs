//! Queue integration tests against a real Redis (`REDIS_URL`, default
//! 127.0.0.1:6379). Every test uses its own random namespace.

#[macro_use]
mod helpers;

mod board;
mod burst;
mod crash;
mod delivery;
mod enqueue;
mod fairness;
mod rate_limit;
mod reconnect;
mod retries;
mod stats;
