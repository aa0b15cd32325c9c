--[[
What the sender is charged for at time now, after trimming the window and
lapsing overdue reservations.

ARGV[1]  now, ms
ARGV[2]  window length W, ms

Returns {messages, recipients, strangers, pending}.
]]

trim(tonumber(ARGV[1]), tonumber(ARGV[2]))
local totals = redis.call('HMGET', sums, 'messages', 'recipients', 'strangers')
return {
  tonumber(totals[1] or '0'),
  tonumber(totals[2] or '0'),
  tonumber(totals[3] or '0'),
  redis.call('ZCARD', pending),
}
