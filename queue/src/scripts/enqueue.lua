-- Batch enqueue. ARGV: base, default_cap, dedupe_ttl_ms, then groups of 9:
-- id, ws, payload, max_attempts, run_at_ms (0 = now), dedupe key ('' = none),
-- rate key ('' = none), rate max, rate window ms.
-- Returns one 1 (created) or 0 (duplicate) per job.
local default_cap = tonumber(ARGV[2])
local dedupe_ttl = tonumber(ARGV[3])
local now = now_ms()
local out = {}
local ready = 0
for i = 4, #ARGV, 9 do
  local id, ws, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local max_attempts, run_at, dedupe = ARGV[i + 3], tonumber(ARGV[i + 4]), ARGV[i + 5]
  local jk = k_job(id)
  local dup = redis.call('EXISTS', jk) == 1
  if not dup and dedupe ~= '' then
    dup = not redis.call('SET', B .. ':dedupe:' .. dedupe, id, 'NX', 'PX', dedupe_ttl)
  end
  if dup then
    redis.call('HINCRBY', K_STATS, 'duplicates', 1)
    out[#out + 1] = 0
  else
    redis.call('HSET', jk, 'ws', ws, 'payload', payload, 'max', max_attempts,
      'attempts', 0, 'fence', 0, 'enqueued_at', now)
    if ARGV[i + 6] ~= '' then
      redis.call('HSET', jk, 'rl_key', ARGV[i + 6], 'rl_max', ARGV[i + 7], 'rl_win', ARGV[i + 8])
    end
    if run_at > now then
      redis.call('HSET', jk, 'state', 'scheduled')
      redis.call('ZADD', K_SCHED, run_at, id)
      redis.call('HINCRBY', k_ws(ws), 'scheduled', 1)
    else
      make_ready(id, ws, now, false, default_cap)
      ready = ready + 1
    end
    redis.call('HINCRBY', K_STATS, 'enqueued', 1)
    out[#out + 1] = 1
  end
end
if ready > 0 then redis.call('PUBLISH', K_NOTIFY, ready) end
return out
