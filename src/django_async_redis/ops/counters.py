"""Counters past Redis's 64-bit range, still atomic.

INCRBY refuses a value or a delta outside a signed 64-bit integer. Django and
django-redis promise Python ints, so for those (rare) cases one Lua script
adds the two decimal strings digit by digit and stores the sum, keeping the
key's expiry: a single command on a single key, hence atomic and routable on
a cluster like INCRBY itself. (A WATCH/MULTI loop would cost three round
trips or more, retry under contention, and cannot be used where one
connection does not own the key's node for the whole transaction.)
"""

from __future__ import annotations

from typing import Any

from . import Step

# KEYS[1]: the counter; ARGV[1]: the delta in decimal; ARGV[2]: "1" when a
# missing key is an error (nil reply), "0" when it counts as 0.
BIG_INCR_SCRIPT = b"""
local current = redis.call('GET', KEYS[1])
if not current then
  if ARGV[2] == '1' then return false end
  current = '0'
end
local function parse(text)
  if not string.match(text, '^%-?%d+$') then return nil end
  local sign = 1
  if string.sub(text, 1, 1) == '-' then sign = -1; text = string.sub(text, 2) end
  text = string.match(text, '^0*(%d-)$')
  if text == '' then return 1, '0' end
  return sign, text
end
local function digits(out)
  local text = string.reverse(table.concat(out))
  text = string.match(text, '^0*(%d-)$')
  if text == '' then return '0' end
  return text
end
local function add(a, b)
  local out, carry, i, j = {}, 0, #a, #b
  while i > 0 or j > 0 or carry > 0 do
    local d = carry
    if i > 0 then d = d + string.byte(a, i) - 48; i = i - 1 end
    if j > 0 then d = d + string.byte(b, j) - 48; j = j - 1 end
    out[#out + 1] = d % 10
    carry = (d - d % 10) / 10
  end
  return digits(out)
end
local function sub(a, b)
  local out, borrow, i, j = {}, 0, #a, #b
  while i > 0 do
    local d = string.byte(a, i) - 48 - borrow
    if j > 0 then d = d - (string.byte(b, j) - 48); j = j - 1 end
    if d < 0 then d = d + 10; borrow = 1 else borrow = 0 end
    out[#out + 1] = d
    i = i - 1
  end
  return digits(out)
end
local function less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local sa, a = parse(current)
local sb, b = parse(ARGV[1])
if not sa or not sb then
  return redis.error_reply('ERR value is not an integer or out of range')
end
local sign, magnitude
if sa == sb then
  sign, magnitude = sa, add(a, b)
elseif less(a, b) then
  sign, magnitude = sb, sub(b, a)
else
  sign, magnitude = sa, sub(a, b)
end
local result = magnitude
if sign < 0 and magnitude ~= '0' then result = '-' .. magnitude end
redis.call('SET', KEYS[1], result, 'KEEPTTL')
return result
"""

# What INCRBY (or the script calling it) says when the numbers are too big.
OUT_OF_RANGE = ("would overflow", "not an integer or out of range")


def out_of_range(reply: Any) -> bool:
    return isinstance(reply, Exception) and any(text in str(reply) for text in OUT_OF_RANGE)


def big_incr(key: bytes, delta: int, key_name: str, check_key: bool) -> Step[int]:
    """Add ``delta`` with arbitrary precision; ValueError for a missing key when checked."""

    def then(replies: list[Any]) -> int:
        if replies[0] is None:
            raise ValueError(f"Key '{key_name}' not found.")
        return int(replies[0])

    command = (b"EVAL", BIG_INCR_SCRIPT, 1, key, str(delta), b"1" if check_key else b"0")
    return Step((command,), then, write=True)
