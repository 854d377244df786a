-- RESTORE: writes room ARGV[2] back after Redis lost it (a restart without
-- data, FLUSHALL, a failover that lost writes), as the node of one of its
-- members knows it: generation ARGV[3]; the host on node ARGV[4], connection
-- ARGV[5], resume token ARGV[6]; the guest on ARGV[7], ARGV[8], ARGV[9]
-- (node '' if none). A node knows the tokens of its own members only ('' for
-- the other's), so both members' nodes call it: the first writes the record,
-- the second adds its token. A token already there is newer (a resume since)
-- and stays. Refused if the id went to another room meanwhile. Returns 1
-- (ours) or 0.
local p, id, gen = ARGV[1], ARGV[2], ARGV[3]
local key = p .. 'room:' .. id
local h = redis.call('HMGET', key, 'gen')
if h[1] and h[1] ~= gen then return 0 end
if not h[1] then
  redis.call('HSET', key, 'gen', gen, 'host_node', ARGV[4], 'host_conn', ARGV[5])
  redis.call('SADD', p .. 'node:' .. ARGV[4] .. ':rooms', id)
  if ARGV[7] ~= '' then
    redis.call('HSET', key, 'guest_node', ARGV[7], 'guest_conn', ARGV[8])
    redis.call('SADD', p .. 'node:' .. ARGV[7] .. ':rooms', id)
  end
end
if ARGV[6] ~= '' then redis.call('HSETNX', key, 'host_tok', ARGV[6]) end
if ARGV[9] ~= '' then redis.call('HSETNX', key, 'guest_tok', ARGV[9]) end
return 1
