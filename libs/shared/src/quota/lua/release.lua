--[[
The message was not stored: give its charge back, leaving a tombstone so that
a reserve arriving later (a retry, a reply lost in a failover) is refused
rather than charged. Idempotent; a release that comes before its reserve
leaves the tombstone all the same. A stored message that is confirmed later
is charged again.

ARGV[1]  message id
ARGV[2]  the time of the send, ms (the id's own)
ARGV[3]  window length W, ms

Returns 1 when a charge was given back, 0 otherwise.
]]

local id, accepted, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local charged = redis.call('ZSCORE', log, id)
if charged then
  uncharge({id})
  redis.call('ZADD', tomb, charged, id)
  return 1
end
if not redis.call('ZSCORE', tomb, id) then
  redis.call('ZADD', tomb, accepted, id)
  redis.call('HSET', data, id, '0:0')
  if redis.call('PTTL', tomb) < 0 then
    expire_all(window)
  end
end
return 0
