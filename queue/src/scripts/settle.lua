-- Applies a batch of outcomes from one worker. Every outcome carries the
-- fencing token of the delivery it answers; the lease member is "fence|id",
-- so an outcome from a stale holder (reaped, or re-delivered since) matches
-- no lease, is rejected (0) and changes nothing.
-- ARGV: base, default_cap, finished_ttl_ms (0 = delete), dead_ttl_ms, then
-- groups of 6: kind, id, fence, ws, number, text
--   kind d = done, r = failed, retry after `number` ms, x = dead (reason
--   `text`; the worker sends x for a failure on the last attempt), l = release
--   (put back unstarted), p = postpone to absolute ms `number` (rate limited;
--   not an attempt)
local default_cap = tonumber(ARGV[2])
local finished_ttl = tonumber(ARGV[3])
local dead_ttl = tonumber(ARGV[4])
local now = now_ms()
local out = {}
-- Tallies per workspace and for the queue, written once at the end.
local per_ws = {}
local q = { completed = 0, failed = 0, retrying = 0, waiting = 0, rate_deferred = 0, rejected_acks = 0 }
for i = 5, #ARGV, 6 do
  local kind, id, fence, ws, num, text = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  if redis.call('ZREM', K_LEASES, fence .. '|' .. id) == 0 then
    q.rejected_acks = q.rejected_acks + 1
    out[#out + 1] = 0
  else
    local jk = k_job(id)
    local t = per_ws[ws]
    if not t then
      t = { inflight = 0, completed = 0, failed = 0, retrying = 0, scheduled = 0 }
      per_ws[ws] = t
    end
    t.inflight = t.inflight - 1
    if kind == 'd' then
      t.completed = t.completed + 1
      if finished_ttl == 0 then
        redis.call('DEL', jk)
      else
        redis.call('HSET', jk, 'state', 'done', 'finished_at', now)
        redis.call('PEXPIRE', jk, finished_ttl)
      end
    elseif kind == 'r' then
      t.failed = t.failed + 1
      t.retrying = t.retrying + 1
      redis.call('HINCRBY', jk, 'att', 1)
      redis.call('HSET', jk, 'state', 'retrying', 'last_error', text)
      redis.call('ZADD', K_SCHED, now + tonumber(num), id)
    elseif kind == 'x' then
      t.failed = t.failed + 1
      redis.call('HINCRBY', jk, 'att', 1)
      bury(id, ws, now, text, dead_ttl)
    elseif kind == 'l' then
      make_ready(id, ws, now, true)
      q.waiting = q.waiting + 1
    elseif kind == 'p' then
      t.scheduled = t.scheduled + 1
      q.rate_deferred = q.rate_deferred + 1
      redis.call('HSET', jk, 'state', 'scheduled')
      redis.call('ZADD', K_SCHED, tonumber(num), id)
    end
    out[#out + 1] = 1
  end
end
local offered = 0
for ws, t in pairs(per_ws) do
  local wk = k_ws(ws)
  for field, n in pairs(t) do
    if n ~= 0 then redis.call('HINCRBY', wk, field, n) end
  end
  q.completed = q.completed + t.completed
  q.failed = q.failed + t.failed
  q.retrying = q.retrying + t.retrying
  -- Slots under this workspace's cap were freed.
  offered = offered + ring_offer(ws, default_cap)
end
for field, n in pairs(q) do
  if n ~= 0 then redis.call('HINCRBY', K_STATS, field, n) end
end
if offered > 0 then redis.call('PUBLISH', K_NOTIFY, offered) end
return out
