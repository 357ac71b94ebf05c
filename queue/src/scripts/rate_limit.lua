-- Sliding-window limiter for one (workspace, provider key): at most ARGV[1]
-- starts in any ARGV[2] ms. KEYS[1] is the start log (ZSET), KEYS[2] the
-- deferral cursor; both share one hash tag.
-- ARGV: max, window_ms, member. Returns {1, 0} when a start is granted, or
-- {0, retry_at_ms} with retry times spread max-per-window apart so deferred
-- jobs do not all wake at the same instant.
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
-- Admission happens a moment before the handler starts, and that moment
-- varies; a margin of window/20 (at most 50 ms) keeps handler start times,
-- not just admissions, within the limit.
window = window + math.min(50, math.floor(window / 20))
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < max then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
local free_at = oldest + window + 1
local cursor = tonumber(redis.call('GET', KEYS[2]) or '0')
local step = math.ceil(window / max)
local at = math.max(free_at, cursor + step)
redis.call('SET', KEYS[2], at, 'PX', at - now + window)
return {0, at}
