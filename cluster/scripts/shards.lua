-- SHARDS: the shard-list check, run by node ARGV[2] each time its command
-- link to this shard comes up, before it heartbeats here. ARGV[3] is the
-- node's shard list (every shard's name, sorted, comma-separated). The list
-- stored here is the cluster's: while any other node is alive in this
-- shard's registry, a node with another list is refused. A one-shard list
-- matches any one-shard list: both nodes reach this very server, so they
-- agree on where every room lives, whatever name they know it by. With no
-- other node alive, the node's list becomes the cluster's (a cluster
-- stopped and restarted with more shards). Returns {1} or {0, stored list}.
local p, me, list = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 'shards'
local stored = redis.call('GET', key)
if stored and stored ~= list then
  local one = not string.find(stored, ',', 1, true) and not string.find(list, ',', 1, true)
  if not one then
    for _, n in ipairs(redis.call('SMEMBERS', p .. 'nodes')) do
      if n ~= me and redis.call('EXISTS', p .. 'node:' .. n .. ':alive') == 1 then
        return {0, stored}
      end
    end
  end
end
redis.call('SET', key, list)
return {1}
