-- Retry or discard dead jobs. ARGV: base, default_cap, op ('retry'|'discard'),
-- limit, then optional job ids (none = the oldest `limit` dead jobs).
-- Returns how many jobs were moved.
local default_cap = tonumber(ARGV[2])
local op = ARGV[3]
local limit = tonumber(ARGV[4])
local now = now_ms()
local members = {}
if #ARGV > 4 then
  for i = 5, #ARGV do
    local ws = redis.call('HGET', k_job(ARGV[i]), 'ws')
    if ws then members[#members + 1] = ws .. '|' .. ARGV[i] end
  end
else
  members = redis.call('ZRANGE', K_DEAD, 0, limit - 1)
end
local moved = 0
local ready = 0
local touched = {}
for _, member in ipairs(members) do
  if redis.call('ZREM', K_DEAD, member) == 1 then
    local sep = string.find(member, '|', 1, true)
    local ws = string.sub(member, 1, sep - 1)
    local id = string.sub(member, sep + 1)
    local jk = k_job(id)
    redis.call('HINCRBY', k_ws(ws), 'dead', -1)
    if op == 'discard' then
      redis.call('DEL', jk)
      moved = moved + 1
    elseif redis.call('EXISTS', jk) == 1 then
      redis.call('PERSIST', jk)
      redis.call('HDEL', jk, 'att')
      redis.call('HDEL', jk, 'reason', 'finished_at')
      make_ready(id, ws, now, false)
      redis.call('HINCRBY', K_STATS, 'waiting', 1)
      touched[ws] = true
      moved = moved + 1
      ready = ready + 1
    end
  end
end
for ws, _ in pairs(touched) do ring_offer(ws, default_cap) end
if ready > 0 then redis.call('PUBLISH', K_NOTIFY, ready) end
return moved
