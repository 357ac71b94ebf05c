-- Pause, resume or set the concurrency cap of one workspace.
-- ARGV: base, default_cap, op ('pause'|'resume'|'cap'|'uncap'), ws, cap
local default_cap = tonumber(ARGV[2])
local op, ws = ARGV[3], ARGV[4]
if op == 'pause' then
  redis.call('SADD', K_PAUSED, ws)
  -- O(active workspaces), but pausing is a rare operator action, and it
  -- keeps the paused check off the fetch path.
  if redis.call('SREM', K_INRING, ws) == 1 then redis.call('LREM', K_RING, 0, ws) end
  return 0
elseif op == 'resume' then
  redis.call('SREM', K_PAUSED, ws)
elseif op == 'cap' then
  redis.call('HSET', k_ws(ws), 'cap', ARGV[5])
elseif op == 'uncap' then
  redis.call('HDEL', k_ws(ws), 'cap')
end
local offered = ring_offer(ws, default_cap)
if offered > 0 then redis.call('PUBLISH', K_NOTIFY, 1) end
return offered
