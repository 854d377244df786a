-- LIST_NODES: the registry as it is now: {node, alive value or '', info or ''}...
local p, out = ARGV[1], {}
for _, n in ipairs(redis.call('SMEMBERS', p .. 'nodes')) do
  table.insert(out, n)
  table.insert(out, redis.call('GET', p .. 'node:' .. n .. ':alive') or '')
  table.insert(out, redis.call('GET', p .. 'node:' .. n .. ':info') or '')
end
return out
