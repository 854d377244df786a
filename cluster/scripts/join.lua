-- JOIN: seats connection ARGV[4] of node ARGV[3] as the guest of room ARGV[2]
-- with resume token ARGV[5], atomically: of two racing guests (on any nodes)
-- exactly one gets in. Never the host's own connection, and not while the
-- host's seat is parked (the guest would wait for nobody).
-- Returns {1, host_node, host_conn, gen} or {0}.
local key = ARGV[1] .. 'room:' .. ARGV[2]
local h = redis.call('HMGET', key, 'gen', 'host_node', 'host_conn', 'guest_tok', 'guest_node', 'host_due')
if not h[1] or h[4] or h[5] or h[6] then return {0} end
if h[2] == ARGV[3] and h[3] == ARGV[4] then return {0} end
redis.call('HSET', key, 'guest_node', ARGV[3], 'guest_conn', ARGV[4], 'guest_tok', ARGV[5])
redis.call('SADD', ARGV[1] .. 'node:' .. ARGV[3] .. ':rooms', ARGV[2])
return {1, h[2], h[3], h[1]}
