-- UNSEAT: gives the guest seat of room ARGV[2] back, if connection ARGV[4] of
-- node ARGV[3] still holds it (its join could not reach the host's node).
-- Returns 1 or 0.
local key = ARGV[1] .. 'room:' .. ARGV[2]
local h = redis.call('HMGET', key, 'guest_node', 'guest_conn')
if h[1] ~= ARGV[3] or h[2] ~= ARGV[4] then return 0 end
redis.call('HDEL', key, 'guest_node', 'guest_conn', 'guest_tok')
redis.call('SREM', ARGV[1] .. 'node:' .. ARGV[3] .. ':rooms', ARGV[2])
return 1
