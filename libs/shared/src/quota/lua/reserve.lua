--[[
Checks every limit and, if the send fits, charges it provisionally, atomically.

Exact rolling window: at time t the window holds the sends accepted in
(t - W, t], one log member per message with its counts beside it, and sums the
scripts keep, so a check is constant work amortised and memory is bounded by
the message limit.

ARGV[1]  message id (a retried reserve of a charged id is a no-op)
ARGV[2]  recipients in this message (distinct, friends and strangers)
ARGV[3]  strangers in this message
ARGV[4]  now: the time of the send, ms (the database's clock, read by the gateway)
ARGV[5]  window length W, ms
ARGV[6]  deadline D, ms: a reservation not confirmed by now + D lapses
ARGV[7]  limit: messages per window
ARGV[8]  limit: recipients per window
ARGV[9]  limit: strangers per window
ARGV[10] limit: strangers per message

Returns {1} when charged (or already charged), {2} when this id was given up
already (released or lapsed: the caller must not store it), or
{0, limit, retry_after_ms} when it does not fit: limit is one of
"strangers-per-message", "messages-per-window", "recipients-per-window",
"strangers-per-window", and retry_after_ms is how long until this same send
would fit, -1 if never.
]]

local id = ARGV[1]
local recipients, strangers = tonumber(ARGV[2]), tonumber(ARGV[3])
local now, window, deadline = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local max_messages, max_recipients = tonumber(ARGV[7]), tonumber(ARGV[8])
local max_strangers, max_strangers_per_message = tonumber(ARGV[9]), tonumber(ARGV[10])

trim(now, window)

if redis.call('ZSCORE', log, id) then
  return {1}
end
if redis.call('ZSCORE', tomb, id) then
  return {2}
end

if strangers > max_strangers_per_message then
  return {0, 'strangers-per-message', -1}
end

local totals = redis.call('HMGET', sums, 'messages', 'recipients', 'strangers')
local need_messages = tonumber(totals[1] or '0') + 1 - max_messages
local need_recipients = tonumber(totals[2] or '0') + recipients - max_recipients
local need_strangers = tonumber(totals[3] or '0') + strangers - max_strangers

if need_messages > 0 or need_recipients > 0 or need_strangers > 0 then
  local limit = 'strangers-per-window'
  if need_messages > 0 then
    limit = 'messages-per-window'
  elseif need_recipients > 0 then
    limit = 'recipients-per-window'
  end
  -- A send bigger than a whole window's allowance never fits.
  if 1 > max_messages or recipients > max_recipients or strangers > max_strangers then
    return {0, limit, -1}
  end
  -- Walk the oldest sends until enough of every kind has left the window.
  local oldest = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
  for i = 1, #oldest, 2 do
    local r, s = counts_of(oldest[i])
    need_messages = need_messages - 1
    need_recipients = need_recipients - r
    need_strangers = need_strangers - s
    if need_messages <= 0 and need_recipients <= 0 and need_strangers <= 0 then
      return {0, limit, tonumber(oldest[i + 1]) + window - now}
    end
  end
  return {0, limit, -1}
end

redis.call('ZADD', log, now, id)
redis.call('ZADD', pending, now + deadline, id)
redis.call('HSET', data, id, recipients .. ':' .. strangers)
redis.call('HINCRBY', sums, 'messages', 1)
redis.call('HINCRBY', sums, 'recipients', recipients)
redis.call('HINCRBY', sums, 'strangers', strangers)
expire_all(window)
return {1}
