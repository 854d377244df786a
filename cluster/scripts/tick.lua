-- TICK, the heartbeat of node ARGV[2]: refreshes its liveness key for ARGV[3]
-- ms with its counts (ARGV[4] rooms, ARGV[5] connections) and its info
-- (ARGV[6]), sums the live nodes' counts and names the dead ones. ARGV[7],
-- the node's shard list (checked by SHARDS), is written back if this shard
-- lost it (FLUSHALL), so a node with another list still finds it.
-- Returns {had_alive_key, was_reaped, rooms, conns, live_nodes, dead...}.
local p, node = ARGV[1], ARGV[2]
local alive = p .. 'node:' .. node .. ':alive'
local had = redis.call('EXISTS', alive)
local reaped = redis.call('DEL', p .. 'node:' .. node .. ':reaped')
redis.call('SET', alive, ARGV[4] .. ' ' .. ARGV[5], 'PX', ARGV[3])
if ARGV[6] ~= '' then redis.call('SET', p .. 'node:' .. node .. ':info', ARGV[6], 'PX', ARGV[3]) end
redis.call('SADD', p .. 'nodes', node)
if ARGV[7] and ARGV[7] ~= '' then redis.call('SET', p .. 'shards', ARGV[7], 'NX') end
local rooms, conns, live, dead = 0, 0, 0, {}
for _, n in ipairs(redis.call('SMEMBERS', p .. 'nodes')) do
  local v = redis.call('GET', p .. 'node:' .. n .. ':alive')
  if v then
    local r, c = string.match(v, '^(%d+) (%d+)$')
    rooms = rooms + tonumber(r)
    conns = conns + tonumber(c)
    live = live + 1
  else
    table.insert(dead, n)
  end
end
local out = {had, reaped, rooms, conns, live}
for _, n in ipairs(dead) do table.insert(out, n) end
return out
