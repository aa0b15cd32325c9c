--[[
Gives back a reservation whose message was never stored. Idempotent: releasing
an unknown or already released message id changes nothing.

KEYS[1]  log   sorted set: member = message id, score = accepted at (ms)
KEYS[2]  data  hash: message id -> "<recipients>:<strangers>"
KEYS[3]  sums  hash: messages, recipients, strangers over the window

ARGV[1]  message id

Returns 1 when a reservation was released, 0 when there was none.
]]

local log, data, sums = KEYS[1], KEYS[2], KEYS[3]
local id = ARGV[1]

-- Lua writes -0 as "-0", which HINCRBY refuses (failing the script half-way): skip zeros.
local function decrement(key, field, n)
  if n > 0 then
    redis.call('HINCRBY', key, field, -n)
  end
end

local counts = redis.call('HGET', data, id)
if not counts or redis.call('ZREM', log, id) == 0 then
  return 0
end
local r, s = string.match(counts, '(%d+):(%d+)')
redis.call('HDEL', data, id)
decrement(sums, 'messages', 1)
decrement(sums, 'recipients', tonumber(r))
decrement(sums, 'strangers', tonumber(s))
return 1
