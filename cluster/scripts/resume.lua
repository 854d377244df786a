-- RESUME: reclaims the parked seat whose token is ARGV[3] in room ARGV[2] for
-- connection ARGV[5] on node ARGV[4], if its grace (vs ARGV[7], unix ms) has
-- not ended; the seat gets token ARGV[6]. Hands over the frames kept for it,
-- tells the other member's node (R). Returns {0} or {1, role, gen,
-- other_node, other_conn, other_due or '', dropped, acked or -1, frames...}.
local p, id, node, conn = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local key = p .. 'room:' .. id
local h = redis.call('HMGET', key, 'gen', 'host_tok', 'guest_tok', 'host_due', 'guest_due')
if not h[1] or ARGV[3] == '' then return {0} end
local role, due
if h[2] == ARGV[3] then role, due = 'host', h[4] elseif h[3] == ARGV[3] then role, due = 'guest', h[5] else return {0} end
if not due or tonumber(due) < tonumber(ARGV[7]) then return {0} end
local other = role == 'host' and 'guest' or 'host'
local o = redis.call('HMGET', key, other .. '_node', other .. '_conn', other .. '_due', role .. '_drop', role .. '_acked')
redis.call('HSET', key, role .. '_node', node, role .. '_conn', conn, role .. '_tok', ARGV[6])
redis.call('HDEL', key, role .. '_due', role .. '_qb', role .. '_drop', role .. '_acked')
redis.call('PERSIST', key)
redis.call('SADD', p .. 'node:' .. node .. ':rooms', id)
local q = key .. ':q:' .. role
local frames = redis.call('LRANGE', q, 0, -1)
redis.call('DEL', q)
local other_node = o[1] or ''
if other_node ~= '' and other_node ~= node then
  redis.call('PUBLISH', p .. 'chan:' .. other_node, envelope('R', id, h[1], node, role, conn))
end
local out = {1, role, h[1], other_node, o[2] or '', o[3] or '', o[4] or '0', o[5] or '-1'}
for _, f in ipairs(frames) do table.insert(out, f) end
return out
