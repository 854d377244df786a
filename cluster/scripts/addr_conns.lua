-- ADDR_CONNS: the cluster-wide count of open WebSockets of one client
-- address ARGV[2] (MAX_CONNECTIONS_PER_IP = ARGV[4]), kept per node ARGV[3]
-- in one hash, so that a dead node's part goes with it when it is reaped
-- (REAP reads node:{id}:addrs, the addresses the node holds some of).
-- ARGV[5] 'take': one more for this node, if the address holds fewer than
-- ARGV[4] over all nodes; 'give': one less (never below 0). Returns 1 taken
-- or given back, 0 refused (the address is at its cap).
local p, addr, node, cap, mode = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local key = p .. 'conns:' .. addr
local addrs = p .. 'node:' .. node .. ':addrs'
if mode == 'give' then
  if redis.call('HINCRBY', key, node, -1) <= 0 then
    redis.call('HDEL', key, node)
    redis.call('SREM', addrs, addr)
  end
  return 1
end
local total = 0
local all = redis.call('HVALS', key)
for _, n in ipairs(all) do total = total + math.max(0, tonumber(n)) end
if total >= cap then return 0 end
redis.call('HINCRBY', key, node, 1)
redis.call('SADD', addrs, addr)
return 1
