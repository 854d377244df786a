-- EXPIRE: ends room ARGV[2] (generation ARGV[3]) if seat ARGV[4] is still
-- parked and its grace (vs ARGV[5], unix ms) is over. Returns 1 if it ended
-- the room, 2 if the room's record is gone or is another room's (its
-- parked seat can never be resumed: the caller ends its side too), 0 if
-- the seat is seated again or still within its grace.
local p, id, role = ARGV[1], ARGV[2], ARGV[4]
local key = p .. 'room:' .. id
local h = redis.call('HMGET', key, 'gen', role .. '_due', 'host_node', 'guest_node')
if h[1] ~= ARGV[3] then return 2 end
if not h[2] or tonumber(h[2]) > tonumber(ARGV[5]) then return 0 end
if h[3] and h[3] ~= '' then redis.call('SREM', p .. 'node:' .. h[3] .. ':rooms', id) end
if h[4] and h[4] ~= '' then redis.call('SREM', p .. 'node:' .. h[4] .. ':rooms', id) end
redis.call('DEL', key, key .. ':q:host', key .. ':q:guest')
return 1
