-- Promote due jobs, recover expired leases, then lease up to `batch` jobs
-- taking one job per workspace per turn of the ring.
-- ARGV: base, batch, default_cap, lease_ms, promote_limit, reap_limit, dead_ttl_ms
-- Returns {ms until the next scheduled job or lease expiry (or -1), more (0/1), n, then n groups of
--   id, fence, attempts, max, ws, payload, rl_key, rl_max, rl_win}
local batch = tonumber(ARGV[2])
local default_cap = tonumber(ARGV[3])
local lease_ms = tonumber(ARGV[4])
local promote_limit = tonumber(ARGV[5])
local reap_limit = tonumber(ARGV[6])
local dead_ttl = tonumber(ARGV[7])
local now = now_ms()
local woke = 0

-- Bounded per call, so 200k jobs falling due at once are moved in slices
-- (never one unbounded unpack).
local due = redis.call('ZRANGEBYSCORE', K_SCHED, '-inf', now, 'LIMIT', 0, promote_limit)
for _, id in ipairs(due) do
  redis.call('ZREM', K_SCHED, id)
  local f = redis.call('HMGET', k_job(id), 'ws', 'state')
  if f[1] then
    if f[2] == 'retrying' then
      redis.call('HINCRBY', K_STATS, 'retrying', -1)
      redis.call('HINCRBY', k_ws(f[1]), 'retrying', -1)
    else
      redis.call('HINCRBY', k_ws(f[1]), 'scheduled', -1)
    end
    make_ready(id, f[1], now, false, default_cap)
    woke = woke + 1
  end
end

-- Leases that were not renewed belong to dead (or partitioned) workers.
local expired = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, reap_limit)
for _, id in ipairs(expired) do
  redis.call('ZREM', K_LEASES, id)
  local f = redis.call('HMGET', k_job(id), 'ws', 'attempts', 'max')
  if f[1] then
    redis.call('HINCRBY', k_ws(f[1]), 'inflight', -1)
    redis.call('HINCRBY', K_STATS, 'redelivered', 1)
    if tonumber(f[2]) >= tonumber(f[3]) then
      bury(id, f[1], now, 'lease expired on the final attempt (worker died or stalled)', dead_ttl)
      ring_offer(f[1], default_cap)
    else
      make_ready(id, f[1], now, true, default_cap)
      woke = woke + 1
    end
  end
end

-- Dead jobs past retention: their hashes expire on their own, the index is
-- trimmed here in slices.
local old = redis.call('ZRANGEBYSCORE', K_DEAD, '-inf', now - dead_ttl, 'LIMIT', 0, 100)
for _, member in ipairs(old) do
  redis.call('ZREM', K_DEAD, member)
  local sep = string.find(member, '|', 1, true)
  local ws = string.sub(member, 1, sep - 1)
  redis.call('HINCRBY', k_ws(ws), 'dead', -1)
  redis.call('DEL', k_job(string.sub(member, sep + 1)))
end

local out = {0, 0, 0}
local n = 0
local steps = 0
local max_steps = batch * 4 + 16
while n < batch and steps < max_steps do
  steps = steps + 1
  local ws = redis.call('LPOP', K_RING)
  if not ws then break end
  local wk = k_ws(ws)
  local keep = false
  if redis.call('SISMEMBER', K_PAUSED, ws) == 0 then
    local inflight = tonumber(redis.call('HGET', wk, 'inflight') or '0')
    local cap = cap_of(ws, default_cap)
    if inflight < cap then
      local rk = k_ready(ws)
      local id = redis.call('LPOP', rk)
      if id then
        redis.call('HINCRBY', K_STATS, 'waiting', -1)
        local nxt = redis.call('LINDEX', rk, 0)
        if nxt then
          redis.call('ZADD', K_HEADS, redis.call('HGET', k_job(nxt), 'ready_at') or now, ws)
        else
          redis.call('ZREM', K_HEADS, ws)
        end
        local jk = k_job(id)
        local f = redis.call('HMGET', jk, 'payload', 'max', 'rl_key', 'rl_max', 'rl_win')
        if f[1] then
          local fence = redis.call('HINCRBY', jk, 'fence', 1)
          local attempts = redis.call('HINCRBY', jk, 'attempts', 1)
          redis.call('HSET', jk, 'state', 'active')
          redis.call('ZADD', K_LEASES, now + lease_ms, id)
          inflight = redis.call('HINCRBY', wk, 'inflight', 1)
          out[#out + 1] = id
          out[#out + 1] = fence
          out[#out + 1] = attempts
          out[#out + 1] = f[2]
          out[#out + 1] = ws
          out[#out + 1] = f[1]
          out[#out + 1] = f[3] or ''
          out[#out + 1] = f[4] or '0'
          out[#out + 1] = f[5] or '0'
          n = n + 1
        end
        keep = nxt ~= nil and inflight < cap
      end
    end
  end
  if keep then
    redis.call('RPUSH', K_RING, ws)
  else
    redis.call('SREM', K_INRING, ws)
  end
end

local next_wake = -1
local s = redis.call('ZRANGE', K_SCHED, 0, 0, 'WITHSCORES')
if s[2] then next_wake = tonumber(s[2]) end
local l = redis.call('ZRANGE', K_LEASES, 0, 0, 'WITHSCORES')
if l[2] and (next_wake < 0 or tonumber(l[2]) < next_wake) then next_wake = tonumber(l[2]) end
-- As a delay, so callers need not trust their clock against Redis's.
if next_wake >= 0 then out[1] = math.max(0, next_wake - now) else out[1] = -1 end
if redis.call('LLEN', K_RING) > 0 then out[2] = 1 end
out[3] = n
-- Jobs moved to ready beyond what this worker took: wake the others.
if woke > n then redis.call('PUBLISH', K_NOTIFY, woke - n) end
return out
