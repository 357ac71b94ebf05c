-- Extends the leases a live worker still holds and records the worker's
-- heartbeat. ARGV: base, lease_ms, worker member ('' = none), worker_ttl_ms,
-- then pairs of id, fence. Returns the ids whose lease was lost (re-delivered
-- to someone else, or reaped): their eventual outcome will be rejected.
-- Two calls per batch: which leases exist (ZMSCORE), then one ZADD XX; and
-- two for the worker set (ZADD, and trimming workers silent for
-- worker_ttl_ms: O(log n) when there are none).
local lease_ms = tonumber(ARGV[2])
local now = now_ms()
local until_s = istr(now + lease_ms)
if ARGV[3] ~= '' then
  redis.call('ZADD', K_WORKERS, istr(now), ARGV[3])
  redis.call('ZREMRANGEBYSCORE', K_WORKERS, '-inf', '(' .. istr(now - tonumber(ARGV[4])))
end
local members = {}
local n = 0
for i = 5, #ARGV, 2 do
  n = n + 1
  members[n] = ARGV[i + 1] .. '|' .. ARGV[i]
end
local lost = {}
if n == 0 then return lost end
local scores = redis.call('ZMSCORE', K_LEASES, unpack(members))
local renew = {}
local nr = 0
for j = 1, n do
  if scores[j] then
    renew[nr + 1] = until_s
    renew[nr + 2] = members[j]
    nr = nr + 2
  else
    lost[#lost + 1] = ARGV[2 * j + 3]
  end
end
if nr > 0 then redis.call('ZADD', K_LEASES, 'XX', unpack(renew)) end
return lost
