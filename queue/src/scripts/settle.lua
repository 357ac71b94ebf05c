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
local finished_ttl_s = ARGV[3]
local finished_ttl = tonumber(finished_ttl_s)
local dead_ttl = tonumber(ARGV[4])
local now = now_ms()
-- Written per job: formatted once (Lua formats numbers with sprintf).
local now_s = istr(now)
local out = {}
-- Tallies per workspace and for the queue, written once at the end.
local per_ws = {}
local q = { completed = 0, failed = 0, retrying = 0, waiting = 0, rate_deferred = 0, rejected_acks = 0 }
-- The fencing check for the whole batch in two calls: which leases exist
-- (ZMSCORE), then one ZREM of those. A member named twice in one batch
-- counts once, as two ZREMs in a row would. The batch is at most the
-- keeper's SETTLE_BATCH (512) outcomes, so the unpacks are small.
local members = {}
local nm = 0
for i = 5, #ARGV, 6 do
  nm = nm + 1
  members[nm] = ARGV[i + 2] .. '|' .. ARGV[i + 1]
end
local accepted = {}
if nm > 0 then
  accepted = redis.call('ZMSCORE', K_LEASES, unpack(members))
  local seen = {}
  local gone = {}
  local ng = 0
  for j = 1, nm do
    local m = members[j]
    if accepted[j] and not seen[m] then
      seen[m] = true
      ng = ng + 1
      gone[ng] = m
    else
      accepted[j] = false
    end
  end
  if ng > 0 then redis.call('ZREM', K_LEASES, unpack(gone)) end
end
local j = 0
for i = 5, #ARGV, 6 do
  local kind, id, fence, ws, num, text = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  j = j + 1
  if not accepted[j] then
    q.rejected_acks = q.rejected_acks + 1
    out[j] = 0
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
        redis.call('HSET', jk, 'state', 'done', 'finished_at', now_s)
        redis.call('PEXPIRE', jk, finished_ttl_s)
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
    out[j] = 1
  end
end
-- Per workspace: its counters, then (if it is off the ring) an offer, since
-- slots under its cap were freed. Ring membership of all of them in one call.
local wss = {}
for ws, _ in pairs(per_ws) do wss[#wss + 1] = ws end
local on_ring = {}
if #wss > 0 then on_ring = redis.call('SMISMEMBER', K_INRING, unpack(wss)) end
local offered = 0
for i, ws in ipairs(wss) do
  local t = per_ws[ws]
  local wk = k_ws(ws)
  for field, n in pairs(t) do
    if n ~= 0 then redis.call('HINCRBY', wk, field, istr(n)) end
  end
  q.completed = q.completed + t.completed
  q.failed = q.failed + t.failed
  q.retrying = q.retrying + t.retrying
  if on_ring[i] == 0 then offered = offered + ring_offer(ws, default_cap) end
end
for field, n in pairs(q) do
  if n ~= 0 then redis.call('HINCRBY', K_STATS, field, istr(n)) end
end
if offered > 0 then redis.call('PUBLISH', K_NOTIFY, offered) end
return out
