-- SEAT_FRAMES: the path of every frame between nodes. ARGV[10]... are F
-- envelopes (built by the sender, cluster/envelope.cpp) for seat ARGV[4] of
-- room ARGV[2] (generation ARGV[3]), each with an ARGV[9]-byte header before
-- the frame itself. While the seat is seated, each is published to its node's
-- channel as it is: that is all the common case costs. While it is parked,
-- the frames (without headers) are kept for it, after those kept before
-- (ARGV[5] 'tail') or before them (ARGV[5] 'head': frames that reached the
-- lost member's node before its park took effect, older than any kept since),
-- within ARGV[6] frames and ARGV[7] bytes, oldest dropped; kept frames expire
-- after ARGV[8] ms. The check and the publish are one step, so no frame slips
-- between a park and a resume. Returns 1 published and heard, 3 published and
-- nobody heard, 2 kept, 0 no such room or seat.
local p, id, role = ARGV[1], ARGV[2], ARGV[4]
local key = p .. 'room:' .. id
local h = redis.call('HMGET', key, 'gen', role .. '_node', role .. '_due')
if h[1] ~= ARGV[3] then return 0 end
if h[2] and h[2] ~= '' then
  local channel = p .. 'chan:' .. h[2]
  local heard = 0
  for i = 10, #ARGV do heard = redis.call('PUBLISH', channel, ARGV[i]) end
  if heard > 0 then return 1 end
  return 3
end
if not h[3] then return 0 end
local q = key .. ':q:' .. role
local skip = tonumber(ARGV[9]) + 1
local bytes = 0
if ARGV[5] == 'tail' then
  for i = 10, #ARGV do
    local f = string.sub(ARGV[i], skip)
    redis.call('RPUSH', q, f)
    bytes = bytes + #f
  end
else
  for i = #ARGV, 10, -1 do
    local f = string.sub(ARGV[i], skip)
    redis.call('LPUSH', q, f)
    bytes = bytes + #f
  end
end
local max_n, max_b = tonumber(ARGV[6]), tonumber(ARGV[7])
local qb = redis.call('HINCRBY', key, role .. '_qb', bytes)
local n = redis.call('LLEN', q)
local dropped = 0
while n > 0 and (n > max_n or qb > max_b) do
  local old = redis.call('LPOP', q)
  qb = redis.call('HINCRBY', key, role .. '_qb', -#old)
  n = n - 1
  dropped = dropped + 1
end
if dropped > 0 then redis.call('HINCRBY', key, role .. '_drop', dropped) end
redis.call('PEXPIRE', q, ARGV[8])
return 2
