-- Shared prelude, prepended to every queue script.
-- ARGV[1] is always the queue base "{<namespace>:<queue>}": every key below
-- starts with it, so all keys of one queue hash to one Redis Cluster slot.
-- Hot paths aggregate counters per call and per workspace: Redis time per
-- job is what bounds throughput.
local B = ARGV[1]
local K_RING = B .. ':ring'       -- LIST of workspaces with ready work (round robin)
local K_INRING = B .. ':inring'   -- SET mirroring K_RING membership
local K_SCHED = B .. ':sched'     -- ZSET id -> run_at ms (delayed, retrying, rate-deferred)
local K_LEASES = B .. ':leases'   -- ZSET "fence|id" -> lease expiry ms
local K_DEAD = B .. ':dead'       -- ZSET "ws|id" -> died_at ms
local K_STATS = B .. ':stats'     -- HASH queue-wide counters
local K_HEADS = B .. ':heads'     -- ZSET ws -> ready_at of its oldest waiting job (lazy, see stats.lua)
local K_PAUSED = B .. ':paused'   -- SET paused workspaces
local K_NOTIFY = B .. ':notify'   -- pub/sub channel waking idle workers
local K_FENCE = B .. ':fence'     -- STRING counter: fencing tokens for every delivery
local K_WORKERS = B .. ':workers' -- ZSET worker (JSON) -> last heartbeat ms

-- Lua formats a number with sprintf("%.14g") when it is concatenated, and
-- redis.call formats numeric arguments with "%.17g"; both cost about as much
-- as a whole command. Integers that go to Redis per job or per workspace are
-- formatted with istr ("%d", about a third of that) or kept as the strings
-- they arrived as.
local istr
do
  local format = string.format
  istr = function(n) return format('%d', n) end
end

local function k_job(id) return B .. ':job:' .. id end
local function k_ready(ws) return B .. ':w:' .. ws .. ':ready' end
local function k_ws(ws) return B .. ':w:' .. ws end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- In-flight count and cap of a workspace (the cap override lives in its hash).
local function load_ws(ws, default_cap)
  local f = redis.call('HMGET', k_ws(ws), 'inflight', 'cap')
  return tonumber(f[1] or '0'), tonumber(f[2] or default_cap)
end

-- Puts a workspace on the ring if it has waiting work, is not paused and has
-- room under its cap. Returns 1 if it was added.
local function ring_offer(ws, default_cap)
  if redis.call('SISMEMBER', K_INRING, ws) == 1 then return 0 end
  if redis.call('LLEN', k_ready(ws)) == 0 then return 0 end
  if redis.call('SISMEMBER', K_PAUSED, ws) == 1 then return 0 end
  local inflight, cap = load_ws(ws, default_cap)
  if inflight >= cap then return 0 end
  redis.call('SADD', K_INRING, ws)
  redis.call('RPUSH', K_RING, ws)
  return 1
end

-- Appends (or, for re-deliveries and releases, prepends) a job to its
-- workspace's ready list. A prepended job keeps its original ready_at, so
-- the list stays ordered by it. The caller adds 1 to 'waiting' and offers
-- the workspace to the ring.
local function make_ready(id, ws, now, front)
  local rk = k_ready(ws)
  local len
  if front then
    len = redis.call('LPUSH', rk, id)
    redis.call('HSET', k_job(id), 'state', 'waiting')
    local ready_at = redis.call('HGET', k_job(id), 'ready_at') or now
    redis.call('ZADD', K_HEADS, 'LT', ready_at, ws)
  else
    len = redis.call('RPUSH', rk, id)
    redis.call('HSET', k_job(id), 'state', 'waiting', 'ready_at', now)
    if len == 1 then redis.call('ZADD', K_HEADS, now, ws) end
  end
end

local function bury(id, ws, now, reason, dead_ttl)
  local jk = k_job(id)
  redis.call('HSET', jk, 'state', 'dead', 'reason', reason, 'finished_at', now)
  redis.call('PEXPIRE', jk, dead_ttl)
  redis.call('ZADD', K_DEAD, now, ws .. '|' .. id)
  redis.call('HINCRBY', K_STATS, 'dead_total', 1)
  redis.call('HINCRBY', k_ws(ws), 'dead', 1)
end

-- Accumulates per-key counter deltas and applies them once.
local function counters()
  local acc = {}
  local self = {}
  function self.add(key, field, n)
    local t = acc[key]
    if not t then t = {}; acc[key] = t end
    t[field] = (t[field] or 0) + n
  end
  function self.flush()
    for key, fields in pairs(acc) do
      for field, n in pairs(fields) do
        if n ~= 0 then redis.call('HINCRBY', key, field, istr(n)) end
      end
    end
  end
  return self
end
