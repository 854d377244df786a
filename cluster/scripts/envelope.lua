-- Prepended to every script that publishes (the build does it; see
-- cluster/CMakeLists.txt). What one node publishes to another's channel,
-- parsed by cluster/envelope.cpp, which documents the fields:
--   kind|room|gen|node|role|body
local function envelope(kind, room, gen, node, role, body)
  return kind .. '|' .. room .. '|' .. gen .. '|' .. node .. '|' .. role .. '|' .. (body or '')
end
