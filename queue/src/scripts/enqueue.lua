-- Batch enqueue. ARGV: base, default_cap, dedupe_ttl_ms, then one group per
-- job: id, ws, payload, max_attempts, run_at_ms (0 = now), x, and when x is
-- '1' six more: check ('1' if the id came from the caller; generated
-- UUIDv7s cannot collide and skip the lookup), dedupe key ('' = none), rate
-- key ('' = none), rate max, rate window ms, rate urgent ('1' or '').
-- Most jobs have none of those, and every argument costs Redis a string;
-- hence the short plain group.
-- Returns one 1 (created) or 0 (duplicate) per job.
-- The hash gets no `state` here (one field less to write per job): absent
-- means nothing has moved the job since enqueue, and the structure holding
-- its id (ready list, B:sched, B:leases) says whether it waits, is
-- scheduled or runs.
local default_cap = tonumber(ARGV[2])
local dedupe_ttl = tonumber(ARGV[3])
local now = now_ms()
-- Written per job: formatted once (Lua formats numbers with sprintf).
local now_s = istr(now)
local out = {}
local c = counters()
local touched = {}
local ready = 0
local i = 4
while i <= #ARGV do
  local id, ws, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local max_attempts, run_at = ARGV[i + 3], tonumber(ARGV[i + 4])
  local extra = ARGV[i + 5] == '1'
  local x = i + 6
  if extra then i = i + 12 else i = i + 6 end
  local jk = k_job(id)
  local dup = false
  if extra then
    dup = ARGV[x] == '1' and redis.call('EXISTS', jk) == 1
    if not dup and ARGV[x + 1] ~= '' then
      dup = not redis.call('SET', B .. ':dedupe:' .. ARGV[x + 1], id, 'NX', 'PX', dedupe_ttl)
    end
  end
  if dup then
    c.add(K_STATS, 'duplicates', 1)
    out[#out + 1] = 0
  else
    if extra and ARGV[x + 2] ~= '' then
      redis.call('HSET', jk, 'ws', ws, 'payload', payload, 'max', max_attempts, 'ready_at', now_s,
        'rl_key', ARGV[x + 2], 'rl_max', ARGV[x + 3], 'rl_win', ARGV[x + 4])
      -- Absent means ordinary: one field less on every campaign job.
      if ARGV[x + 5] == '1' then redis.call('HSET', jk, 'rl_urgent', '1') end
    else
      -- `att` (failed attempts) starts absent (0): fewer fields, less memory.
      redis.call('HSET', jk, 'ws', ws, 'payload', payload, 'max', max_attempts, 'ready_at', now_s)
    end
    if run_at <= now then
      -- Appended per workspace after the loop: one RPUSH per workspace.
      local ids = touched[ws]
      if not ids then ids = {}; touched[ws] = ids end
      ids[#ids + 1] = id
      ready = ready + 1
    else
      redis.call('ZADD', K_SCHED, run_at, id)
      c.add(k_ws(ws), 'scheduled', 1)
    end
    out[#out + 1] = 1
  end
end
local created = 0
for _, v in ipairs(out) do created = created + v end
c.add(K_STATS, 'enqueued', created)
c.add(K_STATS, 'waiting', ready)
c.flush()
for ws, ids in pairs(touched) do
  -- At most `enqueue_chunk` ids, so this unpack is bounded.
  if redis.call('RPUSH', k_ready(ws), unpack(ids)) == #ids then
    redis.call('ZADD', K_HEADS, now, ws)
  end
  ring_offer(ws, default_cap)
end
if ready > 0 then redis.call('PUBLISH', K_NOTIFY, ready) end
return out
