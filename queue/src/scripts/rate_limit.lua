-- Sliding-window limiter for one (workspace, provider key): at most ARGV[1]
-- starts in any ARGV[2] ms. KEYS (one hash tag): the start log (ZSET), the
-- deferral cursor of ordinary jobs, that of urgent ones, and the urgent jobs
-- waiting for a start (ZSET job id -> the start they were deferred to).
-- ARGV: max, window_ms, member, urgent ('1' or ''), job id. Returns {1, 0}
-- when a start is granted, or {0, retry_at_ms} with retry times spread
-- max-per-window apart so deferred jobs do not all wake at the same instant.
-- Urgent jobs come first: an ordinary job counts every waiting urgent job as
-- a start already taken, and urgent jobs are spread behind their own cursor,
-- from the next free start rather than behind every ordinary job deferred.
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
-- Admission happens a moment before the handler starts, and that moment
-- varies; a margin of window/20 (at most 50 ms) keeps handler start times,
-- not just admissions, within the limit.
window = window + math.min(50, math.floor(window / 20))
local urgent = ARGV[4] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local waiting = 0
if urgent then
  redis.call('ZREM', KEYS[4], ARGV[5])
else
  -- An urgent job that has not come back a window after its start was
  -- dropped (discarded, or its worker died): it stops holding a start.
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
  waiting = redis.call('ZCARD', KEYS[4])
end
if redis.call('ZCARD', KEYS[1]) + waiting < max then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
-- With an empty log, an ordinary job is held back only by urgent ones.
local free_at = now + 1
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
if oldest then free_at = tonumber(oldest) + window + 1 end
local cursor_key = KEYS[2]
if urgent then cursor_key = KEYS[3] end
local cursor = tonumber(redis.call('GET', cursor_key) or '0')
local step = math.ceil(window / max)
local at = math.max(free_at, cursor + step)
redis.call('SET', cursor_key, at, 'PX', at - now + window)
if urgent then
  redis.call('ZADD', KEYS[4], at, ARGV[5])
  redis.call('PEXPIRE', KEYS[4], at - now + 2 * window)
end
return {0, at}
