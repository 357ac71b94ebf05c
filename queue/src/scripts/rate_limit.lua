-- Sliding-window limiter for one (workspace, provider key): at most ARGV[1]
-- starts in any ARGV[2] ms.
-- KEYS (one hash tag): the start log (ZSET member -> start ms), the deferral
-- cursors of ordinary and of urgent jobs (STRING), and the starts promised
-- to deferred urgent and ordinary jobs (ZSET job id -> start ms).
-- ARGV: max, window_ms, member (this delivery), urgent ('1' or ''), job id,
-- grace_ms (how long after its promised start a deferred job may come back
-- before the promise lapses: a lease, so a re-delivery still finds it).
-- Returns {1, 0, 0} when a start is granted, or {0, retry_at_ms, ms from now}
-- (the delay lets the worker wake for it without trusting its own clock).
--
-- A job over the limit is promised a start: the next free one behind its
-- cursor, so deferred jobs are spread one start apart, a backlog of N is
-- deferred once each, not retried N times, and it starts in order. A job
-- that comes back for its promised start is checked against the bare
-- window: the promises were spaced by the widened one, so this forgives
-- only the few ms its predecessor started late, and starts stay at least
-- the bare window apart. A job whose promised start
-- is taken anyway (by an urgent job) is promised one at the end of the line.
-- Urgent jobs have their own cursor, from the next free start rather than
-- behind every ordinary job deferred, and starts promised to urgent jobs
-- within the next step count as taken for everyone else.
local max = tonumber(ARGV[1])
local bare = tonumber(ARGV[2])
-- Admission happens a moment before the handler starts, and that moment
-- varies; a margin of window/20 (at most 50 ms) keeps handler start times,
-- not just admissions, within the limit.
local window = bare + math.min(50, math.floor(bare / 20))
local urgent = ARGV[4] == '1'
local id = ARGV[5]
local grace = tonumber(ARGV[6])
local log, waiting = KEYS[1], KEYS[4]
local cursor_key, promises = KEYS[2], KEYS[5]
if urgent then cursor_key, promises = KEYS[3], KEYS[4] end
local step = math.ceil(window / max)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
-- A promise whose job did not come back within the grace was dropped (the
-- job was discarded, or retried later than that).
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - grace)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - grace)
local promised = redis.call('ZSCORE', promises, id)
if promised then redis.call('ZREM', promises, id) end
-- Urgent starts due about now, other than this job's own: taken. An urgent
-- job yields only to urgent jobs promised an earlier start.
local upto = now + step
if urgent and promised then upto = math.min(upto, tonumber(promised) - 1) end
local ahead = redis.call('ZCOUNT', waiting, '-inf', upto)
local started = 0
if promised then
  started = redis.call('ZCOUNT', log, '(' .. (now - bare), '+inf')
else
  started = redis.call('ZCARD', log)
end
if started + ahead < max then
  redis.call('ZADD', log, now, ARGV[3])
  redis.call('PEXPIRE', log, window)
  return {1, 0, 0}
end
local free_at = now + 1
local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')[2]
if oldest then free_at = math.max(free_at, tonumber(oldest) + window + 1) end
if ahead > 0 then
  -- Held back by an urgent job: not before its start.
  local first = redis.call('ZRANGE', waiting, 0, 0, 'WITHSCORES')[2]
  free_at = math.max(free_at, tonumber(first) + 1)
end
local cursor = tonumber(redis.call('GET', cursor_key) or '0')
local at = math.max(free_at, cursor + step)
redis.call('SET', cursor_key, at, 'PX', at - now + window)
redis.call('ZADD', promises, at, id)
-- Promises only grow later, so the newest sets the lifetime.
redis.call('PEXPIRE', promises, at - now + grace + window)
return {0, at, at - now}
