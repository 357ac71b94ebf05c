-- Sliding-window limiter for one (workspace, provider key): at most ARGV[1]
-- starts in any ARGV[2] ms.
-- KEYS (one hash tag): the start log (ZSET member -> start ms), the deferral
-- cursors of ordinary and of urgent jobs (STRING), and the starts promised
-- to deferred urgent and ordinary jobs (ZSET job id -> start ms).
-- ARGV: max, window_ms, member (this delivery), urgent ('1' or ''), job id,
-- grace_ms (how long after its promised start a deferred job may come back
-- and still find its promise: a lease, so a re-delivery still does).
-- Returns {1, 0} when a start is granted, or {0, retry_at_ms}.
--
-- A new job over the limit is promised the next free start behind its
-- cursor, so deferred jobs are spread one start apart and a backlog of N is
-- deferred once each, not retried N times. Promises are spaced by the
-- widened window; a job back for its promise is checked against the bare
-- one, so a predecessor that started a few ms late does not cost it its
-- turn, and if one started later than that the job keeps its promise and
-- retries as soon as the bare window frees. Starts promised within the next
-- step count as taken for new jobs, and earlier promises for later ones, so
-- a backlog starts in order. Urgent jobs have their own cursor, from the
-- next free start rather than behind every ordinary job deferred, and their
-- promises count as taken for every ordinary job; the ordinary job whose
-- start an urgent one took is promised one at the end of the line. A
-- promise overdue by more than a window stops holding a start for others
-- (its job was discarded or is stuck), and lapses after the grace.
local max = tonumber(ARGV[1])
local bare = tonumber(ARGV[2])
-- Admission happens a moment before the handler starts, and that moment
-- varies; for new jobs, a margin of window/20 (at most 50 ms) keeps handler
-- start times, not just admissions, within the limit.
local window = bare + math.min(50, math.floor(bare / 20))
local urgent = ARGV[4] == '1'
local id = ARGV[5]
local grace = tonumber(ARGV[6])
local log, urgent_promises, ordinary_promises = KEYS[1], KEYS[4], KEYS[5]
local cursor_key, promises = KEYS[2], ordinary_promises
if urgent then cursor_key, promises = KEYS[3], urgent_promises end
local step = math.ceil(window / max)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', urgent_promises, '-inf', now - grace)
redis.call('ZREMRANGEBYSCORE', ordinary_promises, '-inf', now - grace)
local promised = redis.call('ZSCORE', promises, id)
if promised then
  promised = tonumber(promised)
  redis.call('ZREM', promises, id)
end
-- Starts promised to others that come first: due within the next step (or,
-- for a job back for its own promise, promised before it), and not overdue
-- by more than a window.
local upto = now + step
if promised then upto = math.min(upto, promised - 1) end
local ahead_urgent, ahead_ordinary = 0, 0
if urgent then
  ahead_urgent = redis.call('ZCOUNT', urgent_promises, now - window, upto)
else
  ahead_urgent = redis.call('ZCOUNT', urgent_promises, now - window, now + step)
  ahead_ordinary = redis.call('ZCOUNT', ordinary_promises, now - window, upto)
end
local ahead = ahead_urgent + ahead_ordinary
local started
if promised then
  started = redis.call('ZCOUNT', log, now - bare, '+inf')
else
  started = redis.call('ZCARD', log)
end
if started + ahead < max then
  redis.call('ZADD', log, now, ARGV[3])
  redis.call('PEXPIRE', log, window)
  return {1, 0}
end
local at
if promised and (urgent or ahead_urgent == 0) then
  -- Keeps its place: back when the bare window has room (or a step on, after
  -- the promises ahead of it), without moving the cursor.
  at = now + 1
  if started >= max then
    local first = redis.call('ZRANGEBYSCORE', log, now - bare, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)[2]
    at = math.max(at, tonumber(first) + bare + 1)
  end
  if ahead > 0 then at = math.max(at, now + step) end
else
  -- New, or an ordinary job whose start an urgent one took: a start at the
  -- end of the line (one job moves, not every job behind it).
  local free_at = now + 1
  local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')[2]
  if oldest then free_at = math.max(free_at, tonumber(oldest) + window + 1) end
  local cursor = tonumber(redis.call('GET', cursor_key) or '0')
  at = math.max(free_at, cursor + step)
  redis.call('SET', cursor_key, at, 'PX', at - now + window)
end
redis.call('ZADD', promises, at, id)
-- The newest promise behind a cursor is the latest one (a kept place is
-- earlier), so this never shortens what a later promise needs.
local last = tonumber(redis.call('ZRANGE', promises, -1, -1, 'WITHSCORES')[2])
redis.call('PEXPIRE', promises, last - now + grace + window)
return {0, at}
