-- Extends the leases a live worker still holds. ARGV: base, lease_ms, then
-- pairs of id, fence. Returns the ids whose lease was lost (re-delivered to
-- someone else, or reaped): their eventual outcome will be rejected.
-- Two calls per batch: which leases exist (ZMSCORE), then one ZADD XX.
local lease_ms = tonumber(ARGV[2])
local until_s = istr(now_ms() + lease_ms)
local members = {}
local n = 0
for i = 3, #ARGV, 2 do
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
    lost[#lost + 1] = ARGV[2 * j + 1]
  end
end
if nr > 0 then redis.call('ZADD', K_LEASES, 'XX', unpack(renew)) end
return lost
