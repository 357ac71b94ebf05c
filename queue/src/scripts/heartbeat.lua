-- Extends the leases a live worker still holds. ARGV: base, lease_ms, then
-- pairs of id, fence. Returns the ids whose lease was lost (re-delivered to
-- someone else, or reaped): their eventual outcome will be rejected.
local lease_ms = tonumber(ARGV[2])
local now = now_ms()
local lost = {}
for i = 3, #ARGV, 2 do
  local member = ARGV[i + 1] .. '|' .. ARGV[i]
  if redis.call('ZSCORE', K_LEASES, member) then
    redis.call('ZADD', K_LEASES, 'XX', now + lease_ms, member)
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
