--[[
Checks every per-sender limit and records the send, atomically.

Exact rolling window: at time t the window holds the sends accepted in
(t - W, t]. The log keeps one member per accepted *message* (not per
recipient), with its recipient and stranger counts beside it and running sums
that this script adjusts as it trims expired members, so a check is constant
work amortised and memory is bounded by the message limit.

KEYS[1]  log   sorted set: member = message id, score = accepted at (ms)
KEYS[2]  data  hash: message id -> "<recipients>:<strangers>"
KEYS[3]  sums  hash: messages, recipients, strangers over the window
  (all three share the sender's hash tag, so they live on one cluster slot)

ARGV[1]  message id (recording is keyed by it: a retried reserve is a no-op)
ARGV[2]  recipients in this message (distinct, friends and strangers)
ARGV[3]  strangers in this message
ARGV[4]  window length W, ms
ARGV[5]  limit: messages per window
ARGV[6]  limit: recipients per window
ARGV[7]  limit: strangers per window
ARGV[8]  limit: strangers per message

Returns {1} when accepted (or already recorded), or
{0, limit, retry_after_ms} when not: limit is one of "strangers-per-message",
"messages-per-window", "recipients-per-window", "strangers-per-window", and
retry_after_ms is how long until this same send would fit, -1 if never.
]]

local log, data, sums = KEYS[1], KEYS[2], KEYS[3]
local id = ARGV[1]

-- Lua writes -0 as "-0", which HINCRBY refuses (failing the script half-way): skip zeros.
local function decrement(key, field, n)
  if n > 0 then
    redis.call('HINCRBY', key, field, -n)
  end
end

local recipients, strangers = tonumber(ARGV[2]), tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local max_messages, max_recipients = tonumber(ARGV[5]), tonumber(ARGV[6])
local max_strangers, max_strangers_per_message = tonumber(ARGV[7]), tonumber(ARGV[8])

-- The server's clock: every quota replica judges time alike.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

-- Trim members that left the window (score <= now - W), taking them out of the sums.
local expired = redis.call('ZRANGEBYSCORE', log, '-inf', now - window)
if #expired > 0 then
  local freed_recipients, freed_strangers = 0, 0
  local counts = redis.call('HMGET', data, unpack(expired))
  for i = 1, #expired do
    local r, s = string.match(counts[i] or '0:0', '(%d+):(%d+)')
    freed_recipients = freed_recipients + tonumber(r)
    freed_strangers = freed_strangers + tonumber(s)
  end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
  redis.call('HDEL', data, unpack(expired))
  decrement(sums, 'messages', #expired)
  decrement(sums, 'recipients', freed_recipients)
  decrement(sums, 'strangers', freed_strangers)
end

if redis.call('ZSCORE', log, id) then
  return {1}
end

if strangers > max_strangers_per_message then
  return {0, 'strangers-per-message', -1}
end

local totals = redis.call('HMGET', sums, 'messages', 'recipients', 'strangers')
local messages_now = tonumber(totals[1] or '0')
local recipients_now = tonumber(totals[2] or '0')
local strangers_now = tonumber(totals[3] or '0')

local need_messages = messages_now + 1 - max_messages
local need_recipients = recipients_now + recipients - max_recipients
local need_strangers = strangers_now + strangers - max_strangers

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
    local r, s = string.match(redis.call('HGET', data, oldest[i]) or '0:0', '(%d+):(%d+)')
    need_messages = need_messages - 1
    need_recipients = need_recipients - tonumber(r)
    need_strangers = need_strangers - tonumber(s)
    if need_messages <= 0 and need_recipients <= 0 and need_strangers <= 0 then
      return {0, limit, tonumber(oldest[i + 1]) + window - now}
    end
  end
  return {0, limit, -1}
end

redis.call('ZADD', log, now, id)
redis.call('HSET', data, id, recipients .. ':' .. strangers)
redis.call('HINCRBY', sums, 'messages', 1)
redis.call('HINCRBY', sums, 'recipients', recipients)
redis.call('HINCRBY', sums, 'strangers', strangers)
-- Nothing in the log outlives one window, so neither do the keys.
for _, key in ipairs(KEYS) do
  redis.call('PEXPIRE', key, window)
end
return {1}
