--[[
The message was stored: its charge stands. Idempotent.

ARGV[1]  message id

Returns 1 when a provisional charge was confirmed, 0 when it was confirmed
already, 2 when a given-up reservation (released, or lapsed past its deadline)
was charged again because the message was stored after all, and 3 when the
ledger knows nothing of it (never reserved, or past the window).
]]

local id = ARGV[1]

if redis.call('ZREM', pending, id) == 1 then
  return 1
end
if redis.call('ZSCORE', log, id) then
  return 0
end
local accepted = redis.call('ZSCORE', tomb, id)
if not accepted then
  return 3
end
redis.call('ZREM', tomb, id)
redis.call('ZADD', log, accepted, id)
charge({id}, 1)
return 2
