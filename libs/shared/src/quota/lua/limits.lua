--[[
Quota introspection: what the sender is charged for at time now (after
trimming the window and lapsing overdue reservations, as a reserve would
first), and when each kind of charge next frees up. Charges nothing.

ARGV[1]  now, ms
ARGV[2]  window length W, ms

Returns {messages, recipients, strangers, oldest_message, oldest_recipient,
oldest_stranger}: each oldest_* is the accepted time (ms) of the oldest send
in the window that uses some of that kind (it leaves the window at that time
plus W, as reserve.lua's retry_after counts), -1 when the window has none.
]]

local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
trim(now, window)
local totals = redis.call('HMGET', sums, 'messages', 'recipients', 'strangers')

local oldest_message, oldest_recipient, oldest_stranger = -1, -1, -1
-- Oldest first; the walk stops as soon as all three are found (at most the message limit).
local charged = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
for i = 1, #charged, 2 do
  local accepted = tonumber(charged[i + 1])
  local r, s = counts_of(charged[i])
  if oldest_message == -1 then
    oldest_message = accepted
  end
  if oldest_recipient == -1 and r > 0 then
    oldest_recipient = accepted
  end
  if oldest_stranger == -1 and s > 0 then
    oldest_stranger = accepted
  end
  if oldest_recipient ~= -1 and oldest_stranger ~= -1 then
    break
  end
end

return {
  tonumber(totals[1] or '0'),
  tonumber(totals[2] or '0'),
  tonumber(totals[3] or '0'),
  oldest_message,
  oldest_recipient,
  oldest_stranger,
}
