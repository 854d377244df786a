-- CREATE: claims room id ARGV[2] for host connection ARGV[4] on node ARGV[3],
-- if no room has it. The room's generation is the host's connection name
-- (it tells this room from a later one with the same id); ARGV[5] is the
-- host's resume token. Returns 1 (created) or 0 (the id is taken).
local key = ARGV[1] .. 'room:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('HSET', key, 'gen', ARGV[4], 'host_node', ARGV[3], 'host_conn', ARGV[4], 'host_tok', ARGV[5])
redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[3] .. ':rooms', ARGV[2])
return 1
