-- The queue's live workers: heartbeat within ARGV[2] ms of Redis's clock.
-- ARGV: base, worker_ttl_ms. Returns member, heartbeat ms pairs.
local now = now_ms()
return redis.call('ZRANGEBYSCORE', K_WORKERS, istr(now - tonumber(ARGV[2])), '+inf', 'WITHSCORES')
