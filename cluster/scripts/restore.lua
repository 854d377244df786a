-- RESTORE: writes room ARGV[2] back after Redis lost it (a restart without
-- data, FLUSHALL): generation ARGV[4], host ARGV[5] on node ARGV[3], guest
-- ARGV[7] on node ARGV[6] ('' if none). Refused if the id went to another
-- room meanwhile. Returns 1 (ours) or 0.
local key = ARGV[1] .. 'room:' .. ARGV[2]
local h = redis.call('HMGET', key, 'gen')
if h[1] then
  if h[1] == ARGV[4] then return 1 end
  return 0
end
redis.call('HSET', key, 'gen', ARGV[4], 'host_node', ARGV[3], 'host_conn', ARGV[5])
redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[3] .. ':rooms', ARGV[2])
if ARGV[6] ~= '' then
  redis.call('HSET', key, 'guest_node', ARGV[6], 'guest_conn', ARGV[7])
  redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[6] .. ':rooms', ARGV[2])
end
return 1
