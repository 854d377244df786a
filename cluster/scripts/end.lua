-- END: removes room ARGV[2] and its kept frames, if it is still generation
-- ARGV[3] (ids are reused later). Returns 1 or 0.
local key = ARGV[1] .. 'room:' .. ARGV[2]
local h = redis.call('HMGET', key, 'gen', 'host_node', 'guest_node')
if not h[1] or h[1] ~= ARGV[3] then return 0 end
if h[2] and h[2] ~= '' then redis.call('SREM', ARGV[1] .. 'node:' .. h[2] .. ':rooms', ARGV[2]) end
if h[3] and h[3] ~= '' then redis.call('SREM', ARGV[1] .. 'node:' .. h[3] .. ':rooms', ARGV[2]) end
redis.call('DEL', key, key .. ':q:host', key .. ':q:guest')
return 1
