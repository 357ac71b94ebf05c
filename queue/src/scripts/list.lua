-- One page of a queue's jobs by state, for apalis-board. Offsets index the
-- structures that already hold the jobs, so a page costs O(log n + page)
-- and nothing is scanned:
--   running  B:leases  by lease expiry (ZRANGE by rank)
--   queued   B:sched   by run_at (delayed, rate-deferred, retrying)
--   failed   B:dead    by died_at
--   pending  the ready lists, workspace by workspace in B:heads order
--            (oldest waiting head first), each list FIFO, paged with LRANGE;
--            skipping to the page costs one LLEN per workspace before it,
--            at most `max_walk` workspaces (else an error)
--   all      the four above, concatenated in that order (ZCARDs skip the
--            sets the page starts beyond)
-- ARGV: base, what, offset, limit, max_walk
-- Returns groups of 12: segment, id, score (or false), fence (or false), and
-- the job's ws, payload, max, att, state, ready_at, last_error, reason. A job
-- whose hash is gone (expired) keeps its place in the index but is left out.
local what = ARGV[2]
local offset = tonumber(ARGV[3])
local need = tonumber(ARGV[4])
local max_walk = tonumber(ARGV[5])
local out = {}
local n = 0

local function emit(seg, id, score, fence)
  local f = redis.call('HMGET', k_job(id), 'ws', 'payload', 'max', 'att', 'state', 'ready_at', 'last_error', 'reason')
  if not f[2] then return end
  out[n + 1] = seg
  out[n + 2] = id
  out[n + 3] = score
  out[n + 4] = fence
  for i = 1, 8 do out[n + 4 + i] = f[i] end
  n = n + 12
end

local function after_bar(member)
  local sep = string.find(member, '|', 1, true)
  return string.sub(member, 1, sep - 1), string.sub(member, sep + 1)
end

local function zset(seg, key)
  if need <= 0 then return end
  local card = redis.call('ZCARD', key)
  if offset >= card then
    offset = offset - card
    return
  end
  local r = redis.call('ZRANGE', key, offset, offset + need - 1, 'WITHSCORES')
  offset = 0
  for i = 1, #r, 2 do
    local m = r[i]
    if seg == 'running' then
      local fence, id = after_bar(m)
      emit(seg, id, r[i + 1], fence)
    elseif seg == 'failed' then
      local _, id = after_bar(m)
      emit(seg, id, r[i + 1], false)
    else
      emit(seg, m, r[i + 1], false)
    end
  end
  need = need - #r / 2
end

-- Returns false if the page lies beyond `max_walk` workspaces.
local function pending()
  local rank = 0
  local walked = 0
  while need > 0 do
    local wss = redis.call('ZRANGE', K_HEADS, rank, rank + 99)
    if #wss == 0 then return true end
    for _, ws in ipairs(wss) do
      walked = walked + 1
      if walked > max_walk then return false end
      local rk = k_ready(ws)
      local len = redis.call('LLEN', rk)
      if offset >= len then
        offset = offset - len
      else
        local ids = redis.call('LRANGE', rk, offset, offset + need - 1)
        offset = 0
        for _, id in ipairs(ids) do emit('pending', id, false, false) end
        need = need - #ids
        if need <= 0 then return true end
      end
    end
    rank = rank + 100
  end
  return true
end

local all = what == 'all'
if all or what == 'running' then zset('running', K_LEASES) end
if all or what == 'queued' then zset('queued', K_SCHED) end
if all or what == 'failed' then zset('failed', K_DEAD) end
if (all or what == 'pending') and need > 0 then
  if not pending() then
    return redis.error_reply('page lies beyond ' .. max_walk .. ' workspaces with waiting jobs')
  end
end
return out
