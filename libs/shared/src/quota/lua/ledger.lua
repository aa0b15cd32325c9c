--[[
The quota ledger of one sender, shared by every script below it (the loader
puts this file in front of each). All keys share the sender's hash tag, so
they live together, on one cluster slot.

KEYS[1]  log      sorted set: message id -> accepted at (ms); every message charged now
KEYS[2]  data     hash: message id -> "<recipients>:<strangers>", for the log and the tombstones
KEYS[3]  sums     hash: messages, recipients, strangers over the log
KEYS[4]  pending  sorted set: message id -> deadline (ms); charged messages not yet known to be stored
KEYS[5]  tomb     sorted set: message id -> accepted at (ms); reservations given up (released, or
                  lapsed past their deadline), so a late reserve is refused and a late confirm
                  (the message was stored after all) charges them again

A reservation's life: reserve puts it in log + pending (charged, provisional);
confirm takes it out of pending (charged for good), once the message is known to
be stored; release moves it to tomb (uncharged); a pending one whose deadline
passes lapses to tomb the same way. Every time is the caller's: the database's
clock, so quota and the messages' own times agree.
]]

local log, data, sums, pending, tomb = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

-- Lua writes -0 as "-0", which HINCRBY refuses (failing the script half-way): skip zeros.
local function add(field, n)
  if n ~= 0 then
    redis.call('HINCRBY', sums, field, n)
  end
end

local function counts_of(id)
  local r, s = string.match(redis.call('HGET', data, id) or '0:0', '(%d+):(%d+)')
  return tonumber(r), tonumber(s)
end

-- Adds (sign 1) or removes (sign -1) messages' counts from the sums.
local function charge(ids, sign)
  if #ids == 0 then
    return
  end
  local recipients, strangers = 0, 0
  local counts = redis.call('HMGET', data, unpack(ids))
  for i = 1, #ids do
    local r, s = string.match(counts[i] or '0:0', '(%d+):(%d+)')
    recipients = recipients + tonumber(r)
    strangers = strangers + tonumber(s)
  end
  add('messages', sign * #ids)
  add('recipients', sign * recipients)
  add('strangers', sign * strangers)
end

-- Removes ids from the log (and pending), uncharging them; keeps their counts in data.
local function uncharge(ids)
  if #ids == 0 then
    return
  end
  charge(ids, -1)
  redis.call('ZREM', log, unpack(ids))
  redis.call('ZREM', pending, unpack(ids))
end

-- Brings the ledger to time now: what left the window goes, and reservations
-- whose deadline passed unconfirmed lapse to tombstones.
local function trim(now, window)
  local horizon = now - window
  local expired = redis.call('ZRANGEBYSCORE', log, '-inf', horizon)
  if #expired > 0 then
    uncharge(expired)
    redis.call('HDEL', data, unpack(expired))
  end
  local buried = redis.call('ZRANGEBYSCORE', tomb, '-inf', horizon)
  if #buried > 0 then
    redis.call('ZREMRANGEBYSCORE', tomb, '-inf', horizon)
    redis.call('HDEL', data, unpack(buried))
  end
  local lapsed = redis.call('ZRANGEBYSCORE', pending, '-inf', now)
  if #lapsed > 0 then
    local accepted = {}
    for i = 1, #lapsed do
      accepted[#accepted + 1] = redis.call('ZSCORE', log, lapsed[i])
      accepted[#accepted + 1] = lapsed[i]
    end
    uncharge(lapsed)
    redis.call('ZADD', tomb, unpack(accepted))
  end
end

-- Keys live as long as their newest member can matter.
local function expire_all(window)
  for _, key in ipairs(KEYS) do
    redis.call('PEXPIRE', key, window)
  end
end
