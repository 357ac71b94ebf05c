-- Promote due jobs, recover expired leases, then lease up to `batch` jobs,
-- walking the ring of workspaces. Each visit takes a quantum of
-- max(quantum, remaining / ring length) jobs, bounded by the workspace's room under
-- its cap: round robin with a small quantum when many workspaces wait, and
-- few visits when few do.
-- ARGV: base, batch, default_cap, lease_ms, promote_limit, reap_limit, dead_ttl_ms, quantum
-- Returns {ms until the next scheduled job or lease expiry (or -1), more (0/1),
--   n, then one group per workspace visit that leased jobs: ws, k, and k jobs,
--   each id, fence, attempts, max, payload, rl_key, and rl_max, rl_win,
--   rl_urgent only when rl_key is not ''}
-- Numbers passed to redis.call or concatenated are formatted with sprintf by
-- Lua; per-job values are kept as strings where they can be.
local batch = tonumber(ARGV[2])
local default_cap = tonumber(ARGV[3])
local lease_ms = tonumber(ARGV[4])
local promote_limit = tonumber(ARGV[5])
local reap_limit = tonumber(ARGV[6])
local dead_ttl = tonumber(ARGV[7])
local quantum = tonumber(ARGV[8])
local now = now_ms()
local c = counters()
local woke = 0
local offer = {}

-- The heads of the scheduled and lease sets: usually nothing is due, and
-- then the promotion and recovery scans are skipped.
local s_head = redis.call('ZRANGE', K_SCHED, 0, 0, 'WITHSCORES')
local l_head = redis.call('ZRANGE', K_LEASES, 0, 0, 'WITHSCORES')
local promoted = false

-- Bounded per call, so 200k jobs falling due at once are moved in slices
-- (never one unbounded unpack).
local due = {}
if s_head[2] and tonumber(s_head[2]) <= now then
  due = redis.call('ZRANGEBYSCORE', K_SCHED, '-inf', now, 'LIMIT', 0, promote_limit)
  promoted = true
end
for _, id in ipairs(due) do
  redis.call('ZREM', K_SCHED, id)
  local f = redis.call('HMGET', k_job(id), 'ws', 'state')
  if f[1] then
    if f[2] == 'retrying' then
      c.add(K_STATS, 'retrying', -1)
      c.add(k_ws(f[1]), 'retrying', -1)
    else
      c.add(k_ws(f[1]), 'scheduled', -1)
    end
    make_ready(id, f[1], now, false)
    c.add(K_STATS, 'waiting', 1)
    offer[f[1]] = true
    woke = woke + 1
  end
end

-- Leases that were not renewed belong to dead (or partitioned) workers.
local expired = {}
if l_head[2] and tonumber(l_head[2]) <= now then
  expired = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, reap_limit)
end
for _, member in ipairs(expired) do
  redis.call('ZREM', K_LEASES, member)
  local id = member
  id = string.sub(id, string.find(id, '|', 1, true) + 1)
  local f = redis.call('HMGET', k_job(id), 'ws', 'max')
  if f[1] then
    redis.call('HINCRBY', k_ws(f[1]), 'inflight', -1)
    c.add(K_STATS, 'redelivered', 1)
    -- A delivery lost with its worker counts as an attempt, so a job that
    -- crashes its worker every time ends in the dead set.
    if redis.call('HINCRBY', k_job(id), 'att', 1) >= tonumber(f[2]) then
      bury(id, f[1], now, 'lease expired on the final attempt (worker died or stalled)', dead_ttl)
    else
      make_ready(id, f[1], now, true)
      c.add(K_STATS, 'waiting', 1)
      woke = woke + 1
    end
    offer[f[1]] = true
  end
end

-- Dead jobs past retention: their hashes expire on their own, the index is
-- trimmed here in slices, on about one fetch in 16.
local old = {}
if now % 16 == 0 then
  old = redis.call('ZRANGEBYSCORE', K_DEAD, '-inf', now - dead_ttl, 'LIMIT', 0, 100)
end
for _, member in ipairs(old) do
  redis.call('ZREM', K_DEAD, member)
  local sep = string.find(member, '|', 1, true)
  c.add(k_ws(string.sub(member, 1, sep - 1)), 'dead', -1)
  redis.call('DEL', k_job(string.sub(member, sep + 1)))
end
c.flush()
c = counters()
for ws, _ in pairs(offer) do ring_offer(ws, default_cap) end

local out = {0, 0, 0}
local o = 3
local leases = {}
local nl = 0
local n = 0
local steps = 0
local max_steps = batch * 2 + 16
local deadline = now + lease_ms
local deadline_s = istr(deadline)
local ring_len = redis.call('LLEN', K_RING)
-- Reserve fences for the whole batch up front; unused ones are skipped.
local fence = 0
if ring_len > 0 then fence = redis.call('INCRBY', K_FENCE, batch) - batch end
while n < batch and steps < max_steps and ring_len > 0 do
  steps = steps + 1
  -- Rotate: the visited workspace goes to the tail unless dropped below.
  local ws = redis.call('LMOVE', K_RING, K_RING, 'LEFT', 'RIGHT')
  if not ws then break end
  local wk = k_ws(ws)
  local inflight, cap = load_ws(ws, default_cap)
  local room = cap - inflight
  local take = math.max(quantum, math.floor((batch - n) / ring_len))
  if take > room then take = room end
  if take > batch - n then take = batch - n end
  local drop = take <= 0
  if not drop then
    local ids = redis.call('LPOP', k_ready(ws), istr(take))
    local got = 0
    if ids then
      -- The visit's group header; its count is filled in below.
      out[o + 1] = ws
      out[o + 2] = 0
      local head = o + 2
      o = head
      for _, id in ipairs(ids) do
        local jk = k_job(id)
        local f = redis.call('HMGET', jk, 'payload', 'max', 'att', 'rl_key')
        if f[1] then
          -- Fences come from one counter per queue: strictly increasing for
          -- every job, and no write to the job hash on delivery.
          fence = fence + 1
          local fence_s = istr(fence)
          -- The fence in the member makes a stale holder's lease a
          -- different member: settling or renewing it finds nothing.
          leases[nl + 1] = deadline_s
          leases[nl + 2] = fence_s .. '|' .. id
          nl = nl + 2
          out[o + 1] = id
          out[o + 2] = fence_s
          out[o + 3] = tonumber(f[3] or '0') + 1
          out[o + 4] = f[2]
          out[o + 5] = f[1]
          if f[4] and f[4] ~= '' then
            local rl = redis.call('HMGET', jk, 'rl_max', 'rl_win', 'rl_urgent')
            out[o + 6] = f[4]
            out[o + 7] = rl[1] or '0'
            out[o + 8] = rl[2] or '0'
            out[o + 9] = rl[3] or ''
            o = o + 9
          else
            out[o + 6] = ''
            o = o + 6
          end
          got = got + 1
        end
      end
      if got > 0 then
        out[head] = got
        redis.call('HINCRBY', wk, 'inflight', istr(got))
      else
        -- Nothing leased on this visit: drop the header.
        out[head] = nil
        out[head - 1] = nil
        o = head - 2
      end
      c.add(K_STATS, 'waiting', -#ids)
      n = n + got
    end
    if (not ids) or #ids < take then
      -- Ran dry: off the ring until work arrives.
      drop = true
      redis.call('ZREM', K_HEADS, ws)
    elseif got >= room then
      -- At its cap: off the ring until one of its jobs settles.
      drop = true
    end
  end
  if drop then
    -- LMOVE put it at the tail.
    redis.call('RPOP', K_RING)
    redis.call('SREM', K_INRING, ws)
    ring_len = ring_len - 1
  end
end
c.flush()
-- One ZADD for the whole batch; bounded by the batch size, so the unpack is small.
if nl > 0 then redis.call('ZADD', K_LEASES, unpack(leases)) end

local next_wake = -1
if promoted then s_head = redis.call('ZRANGE', K_SCHED, 0, 0, 'WITHSCORES') end
if #expired > 0 then l_head = redis.call('ZRANGE', K_LEASES, 0, 0, 'WITHSCORES') end
if s_head[2] then next_wake = tonumber(s_head[2]) end
local l_next = -1
if l_head[2] then l_next = tonumber(l_head[2]) end
if n > 0 and (l_next < 0 or deadline < l_next) then l_next = deadline end
if l_next >= 0 and (next_wake < 0 or l_next < next_wake) then next_wake = l_next end
-- As a delay, so callers need not trust their clock against Redis's.
if next_wake >= 0 then out[1] = math.max(0, next_wake - now) else out[1] = -1 end
if ring_len > 0 then out[2] = 1 end
out[3] = n
-- Jobs moved to ready beyond what this worker took: wake the others.
if woke > n then redis.call('PUBLISH', K_NOTIFY, woke - n) end
return out
