-- REAP: handles the rooms of dead node ARGV[2] (ARGV[3] 'leaving' for a node
-- leaving on purpose). With resume on (ARGV[4] grace ms > 0) each seat it
-- held is parked until ARGV[5] + grace, exactly as if its connection had been
-- lost, and the other member's node hears D; the record expires once nobody
-- is seated. With resume off the room is removed, as the seed would, and
-- {room, gen, surviving member's node}... is returned so the survivors can be
-- told. Its part of the per-address connection counts (ADDR_CONNS) is
-- removed. A node that came back in the meantime is spared.
local p, dead = ARGV[1], ARGV[2]
local grace = tonumber(ARGV[4])
if ARGV[3] == 'leaving' then
  redis.call('DEL', p .. 'node:' .. dead .. ':alive')
elseif redis.call('EXISTS', p .. 'node:' .. dead .. ':alive') == 1 then
  return {}
end
local set = p .. 'node:' .. dead .. ':rooms'
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  local key = p .. 'room:' .. id
  local h = redis.call('HMGET', key, 'gen', 'host_node', 'guest_node', 'host_tok', 'guest_tok')
  if h[1] then
    if grace > 0 then
      local seated = {}
      for i, role in ipairs({'host', 'guest'}) do
        local node = h[i + 1]
        if node == dead and h[i + 3] then
          redis.call('HSET', key, role .. '_node', '', role .. '_conn', '', role .. '_due', tonumber(ARGV[5]) + grace,
                     role .. '_qb', 0, role .. '_drop', 0)
          redis.call('HDEL', key, role .. '_acked')
          redis.call('DEL', key .. ':q:' .. role)
          for _, n in ipairs({h[2], h[3]}) do
            if n and n ~= '' and n ~= dead then
              redis.call('PUBLISH', p .. 'chan:' .. n, envelope('D', id, h[1], dead, role))
            end
          end
        elseif node and node ~= '' and node ~= dead then
          seated[#seated + 1] = node
        end
      end
      if #seated == 0 then redis.call('PEXPIRE', key, grace + 60000) end
    else
      local other = h[2]
      if other == dead then other = h[3] end
      if other and other ~= '' and other ~= dead then
        redis.call('SREM', p .. 'node:' .. other .. ':rooms', id)
        table.insert(out, id)
        table.insert(out, h[1])
        table.insert(out, other)
      end
      redis.call('DEL', key, key .. ':q:host', key .. ':q:guest')
    end
  end
end
redis.call('DEL', set)
-- Its part of each address's connection count (ADDR_CONNS) goes with it.
local addrs = p .. 'node:' .. dead .. ':addrs'
for _, addr in ipairs(redis.call('SMEMBERS', addrs)) do
  redis.call('HDEL', p .. 'conns:' .. addr, dead)
end
redis.call('DEL', addrs)
redis.call('SREM', p .. 'nodes', dead)
redis.call('DEL', p .. 'node:' .. dead .. ':info')
-- If the node was only cut off, it learns at its next heartbeat that its
-- rooms are gone (and ends them) instead of writing them back.
if ARGV[3] ~= 'leaving' then redis.call('SET', p .. 'node:' .. dead .. ':reaped', '1', 'PX', 600000) end
return out
