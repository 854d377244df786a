-- PARK: seat ARGV[4] of room ARGV[2] (generation ARGV[3]), seated on node
-- ARGV[5] as connection ARGV[6], lost its connection: it is kept until unix ms
-- ARGV[7] and frames for it are kept from now on. The other member's node
-- hears D; our own node gets a fence, X, behind every envelope published to
-- it before. With nobody seated any more, the record expires after ARGV[8]
-- ms. ARGV[9]: how many messages the seat had relayed (told to the client
-- when it resumes). Returns {1, other member's node or ''} or {0} (not that
-- seat any more).
local p, id, gen, role = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = p .. 'room:' .. id
local other = role == 'host' and 'guest' or 'host'
local h = redis.call('HMGET', key, 'gen', role .. '_node', role .. '_conn', other .. '_node')
if h[1] ~= gen or h[2] ~= ARGV[5] or h[3] ~= ARGV[6] then return {0} end
redis.call('HSET', key, role .. '_node', '', role .. '_conn', '', role .. '_due', ARGV[7], role .. '_qb', 0, role .. '_drop', 0,
           role .. '_acked', ARGV[9])
redis.call('SREM', p .. 'node:' .. ARGV[5] .. ':rooms', id)
redis.call('DEL', key .. ':q:' .. role)
local other_node = h[4] or ''
if other_node ~= '' and other_node ~= ARGV[5] then
  redis.call('PUBLISH', p .. 'chan:' .. other_node, envelope('D', id, gen, ARGV[5], role))
end
redis.call('PUBLISH', p .. 'chan:' .. ARGV[5], envelope('X', id, gen, ARGV[5], role))
if other_node == '' then redis.call('PEXPIRE', key, ARGV[8]) end
return {1, other_node}
