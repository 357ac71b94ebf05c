//! The Lua scripts, each prefixed with the shared prelude. `redis::Script`
//! sends EVALSHA and falls back to EVAL on NOSCRIPT, so a restarted Redis
//! (which forgets its script cache) needs no special handling.

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<Script> =
            LazyLock::new(|| Script::new(concat!(include_str!("scripts/common.lua"), "\n", include_str!($file))));
    };
}

script!(ENQUEUE, "scripts/enqueue.lua");
script!(FETCH, "scripts/fetch.lua");
script!(SETTLE, "scripts/settle.lua");
script!(HEARTBEAT, "scripts/heartbeat.lua");
script!(DEAD, "scripts/dead.lua");
script!(WORKSPACE, "scripts/workspace.lua");
script!(STATS, "scripts/stats.lua");
script!(LIST, "scripts/list.lua");
script!(WORKERS, "scripts/workers.lua");

/// Standalone: it lives in its own slot, not in a queue's.
pub(crate) static RATE_LIMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/rate_limit.lua")));
