-- Queue statistics in one round trip. The heads index is maintained lazily
-- (set when a workspace's list becomes non-empty, not on every pop), so its
-- scores can be older than the real heads; the oldest is found by repairing
-- the minimum until it matches its list's real head (at most `max_repairs`
-- O(log n) steps; past that the age reported is an upper bound).
-- ARGV: base, max_repairs. Returns {stats hash flat, sched, leases, dead,
-- oldest ready_at or -1, exact (0/1), now}
local max_repairs = tonumber(ARGV[2])
local now = now_ms()
local oldest = -1
local exact = 1
local repairs = 0
while true do
  local h = redis.call('ZRANGE', K_HEADS, 0, 0, 'WITHSCORES')
  if not h[1] then break end
  local ws, score = h[1], tonumber(h[2])
  local head = redis.call('LINDEX', k_ready(ws), 0)
  local real = nil
  if head then real = tonumber(redis.call('HGET', k_job(head), 'ready_at') or score) end
  if real == score then
    oldest = score
    break
  end
  if repairs >= max_repairs then
    oldest = score
    exact = 0
    break
  end
  repairs = repairs + 1
  if real then redis.call('ZADD', K_HEADS, real, ws) else redis.call('ZREM', K_HEADS, ws) end
end
return {
  redis.call('HGETALL', K_STATS),
  redis.call('ZCARD', K_SCHED),
  redis.call('ZCARD', K_LEASES),
  redis.call('ZCARD', K_DEAD),
  oldest,
  exact,
  now,
}
