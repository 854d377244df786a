-- ADDR_MISSES: the cluster-wide budget of refused join-room (and wrong resume
-- tokens) of one client address ARGV[2]: ARGV[3] misses a minute
-- (JOIN_MISSES_PER_IP), refilled evenly, at most that many saved up; the
-- same token bucket as a node's own (actors/join_miss_budget.cpp), timed by
-- Redis's clock so every node reads one budget. ARGV[4] 'charge' spends
-- one, 'check' only reads. The key expires once the budget is full again,
-- so only recent guessers are held. Returns 1 while the address has a miss
-- left to spend, 0 when it has none.
local p, addr, per_min, mode = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local key = p .. 'misses:' .. addr
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', key, 'tokens', 'at')
local tokens = per_min
if h[1] and h[2] then
  tokens = math.min(per_min, tonumber(h[1]) + math.max(0, now - tonumber(h[2])) * per_min / 60000)
end
if mode == 'charge' then
  tokens = math.max(0, tokens - 1)
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((per_min - tokens) * 60000 / per_min) + 1000)
end
if tokens >= 1 then return 1 end
return 0
