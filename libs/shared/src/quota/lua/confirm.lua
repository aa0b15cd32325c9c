--[[
The message was stored: its charge stands. Idempotent.

ARGV[1]  message id
ARGV[2]  optional, with the three after it: the reservation's recipients
ARGV[3]  its strangers
ARGV[4]  its time (accepted at, ms)
ARGV[5]  window length W, ms

Returns 1 when a provisional charge was confirmed, 0 when it was confirmed
already, 2 when a given-up reservation (released, or lapsed past its deadline)
was charged again because the message was stored after all, 4 when the ledger
knew nothing of it and the reservation given charged it (a Redis failover lost
the reserve: replication is asynchronous), and 3 when the ledger knows nothing
of it and no reservation came (never reserved, or past the window).
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
  if not ARGV[2] then
    return 3
  end
  local recipients, strangers = tonumber(ARGV[2]), tonumber(ARGV[3])
  local sent, window = tonumber(ARGV[4]), tonumber(ARGV[5])
  -- One already past the window goes at the next trim, which every reader runs first.
  redis.call('ZADD', log, sent, id)
  redis.call('HSET', data, id, recipients .. ':' .. strangers)
  charge({id}, 1)
  expire_all(window)
  return 4
end
redis.call('ZREM', tomb, id)
redis.call('ZADD', log, accepted, id)
charge({id}, 1)
return 2
