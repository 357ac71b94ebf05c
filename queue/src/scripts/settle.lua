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
local c = counters()
local touched = {}
for i = 5, #ARGV, 6 do
  local kind, id, fence, ws, num, text = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local jk = k_job(id)
  if redis.call('ZREM', K_LEASES, fence .. '|' .. id) == 0 then
    c.add(K_STATS, 'rejected_acks', 1)
    out[#out + 1] = 0
  else
    local wk = k_ws(ws)
    touched[ws] = true
    c.add(wk, 'inflight', -1)
    if kind == 'd' then
      c.add(K_STATS, 'completed', 1)
      c.add(wk, 'completed', 1)
      if finished_ttl == 0 then
        redis.call('DEL', jk)
      else
        redis.call('HSET', jk, 'state', 'done', 'finished_at', now)
        redis.call('PEXPIRE', jk, finished_ttl)
      end
    elseif kind == 'r' then
      c.add(K_STATS, 'failed', 1)
      c.add(wk, 'failed', 1)
      redis.call('HSET', jk, 'state', 'retrying', 'last_error', text)
      redis.call('ZADD', K_SCHED, now + tonumber(num), id)
      c.add(K_STATS, 'retrying', 1)
      c.add(wk, 'retrying', 1)
    elseif kind == 'x' then
      c.add(K_STATS, 'failed', 1)
      c.add(wk, 'failed', 1)
      bury(id, ws, now, text, dead_ttl)
    elseif kind == 'l' then
      redis.call('HINCRBY', jk, 'base', 1)
      make_ready(id, ws, now, true)
      c.add(K_STATS, 'waiting', 1)
    elseif kind == 'p' then
      redis.call('HINCRBY', jk, 'base', 1)
      redis.call('HSET', jk, 'state', 'scheduled')
      redis.call('ZADD', K_SCHED, tonumber(num), id)
      c.add(wk, 'scheduled', 1)
      c.add(K_STATS, 'rate_deferred', 1)
    end
    out[#out + 1] = 1
  end
end
c.flush()
-- Slots under these workspaces' caps were freed.
local offered = 0
for ws, _ in pairs(touched) do offered = offered + ring_offer(ws, default_cap) end
if offered > 0 then redis.call('PUBLISH', K_NOTIFY, offered) end
return out
