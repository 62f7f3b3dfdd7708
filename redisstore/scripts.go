package redisstore

import "github.com/redis/go-redis/v9"

// The scripts. Every operation that changes state is one of them, so each
// decision and its writes are atomic: never GET then SET.
//
// Keys: KEYS[1] is the family hash <prefix>{<tag>}:f:<sid>, KEYS[2] the
// subject's index <prefix>{<tag>}:s:<subject id>, a sorted set of session ids scored by
// expiry deadline (ms). Revoking a subject reaches the families the index
// names; they share the declared keys' hash tag, hence their slot.
//
// Family fields: v format, sub subject, g generation of the current token,
// cur/prev SHA-256 of the current/previous secret, ik hashed idempotency key
// of the rotation that made g, lu its time (last used; the login's at first),
// kv key version of the current token, ct created, exp deadline, abs absolute
// deadline (0: none), gc when Redis will drop the key, cl claims snapshot, ci
// client info. Times are Unix milliseconds from the caller's clock, which
// every decision uses.
//
// Expiry is decided by exp, checked by every script; the TTLs only collect
// garbage. A TTL that falls short of a new deadline is set "slack" (a tenth
// of the idle timeout) beyond it, so most rotations skip both PEXPIREs, the
// costliest writes after HSET. The index must outlive every family it names.

// createScript: ARGV now, sub, cur, kv, exp, abs, cl, ci, max, famprefix,
// sid, slack ms.
// Drops expired index entries, evicts the sessions closest to expiry beyond
// max-1, stores the family. Returns the evicted session ids.
var createScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local exp = tonumber(ARGV[5])
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for i = 1, #gone do redis.call('DEL', ARGV[10] .. gone[i]) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
local n = redis.call('ZCARD', KEYS[2])
local max = tonumber(ARGV[9])
local evicted = {}
while n >= max do
  local p = redis.call('ZPOPMIN', KEYS[2])
  redis.call('DEL', ARGV[10] .. p[1])
  evicted[#evicted + 1] = p[1]
  n = n - 1
end
local slack = tonumber(ARGV[12])
local ttl = exp - now
redis.call('HSET', KEYS[1], 'v', '1', 'sub', ARGV[2], 'g', '1', 'cur', ARGV[3],
  'kv', ARGV[4], 'ct', ARGV[1], 'lu', ARGV[1], 'exp', ARGV[5], 'abs', ARGV[6],
  'cl', ARGV[7], 'ci', ARGV[8], 'gc', string.format('%.0f', exp + slack))
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl + slack))
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[11])
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], string.format('%.0f', ttl + slack))
end
return evicted
`)

// Outcomes of rotateScript.
const (
	outInvalid = 0
	outRotated = 1
	outReplay  = 2
	outReuse   = 3
)

// replyLen is the length of rotateScript's reply per outcome.
var replyLen = [...]int{outInvalid: 1, outRotated: 4, outReplay: 5, outReuse: 3}

// rotateScript: ARGV now, presented generation, presented hash, child hash,
// idempotency key hash, new deadline (now + idle), grace ms, policy ("s"
// subject, "f" family), current key version, famprefix, sid, slack ms.
//
// Returns {0} invalid; {1, sub, claims, exp} rotated; {2, sub, claims, exp,
// kv} replay of the current child (made under key version kv); {3, sub,
// revoked ids} reuse detected and revoked.
var rotateScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'g', 'cur', 'prev', 'ik', 'lu', 'exp', 'abs', 'sub', 'cl', 'kv', 'gc')
local g = tonumber(f[1])
if not g then return {0} end
local now = tonumber(ARGV[1])
if now >= tonumber(f[6]) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[11])
  return {0}
end
local p = tonumber(ARGV[2])
if p == g then
  if f[2] ~= ARGV[3] then return {0} end
  local exp = ARGV[6]
  local abs = tonumber(f[7])
  if abs > 0 and abs < tonumber(exp) then exp = f[7] end
  local ttl = tonumber(exp) - now
  local slack = tonumber(ARGV[12])
  local w = {'g', g + 1, 'cur', ARGV[4], 'prev', ARGV[3], 'ik', ARGV[5], 'lu', ARGV[1], 'exp', exp}
  if f[10] ~= ARGV[9] then
    w[#w + 1] = 'kv'
    w[#w + 1] = ARGV[9]
  end
  local gc = tonumber(f[11])
  local extend = not gc or gc < tonumber(exp)
  if extend then
    w[#w + 1] = 'gc'
    w[#w + 1] = string.format('%.0f', tonumber(exp) + slack)
  end
  redis.call('HSET', KEYS[1], unpack(w))
  if extend then redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl + slack)) end
  redis.call('ZADD', KEYS[2], exp, ARGV[11])
  if redis.call('PTTL', KEYS[2]) < ttl then
    redis.call('PEXPIRE', KEYS[2], string.format('%.0f', ttl + slack))
  end
  return {1, f[8], f[9], exp}
end
if p == g - 1 then
  if f[3] ~= ARGV[3] then return {0} end
  local grace = tonumber(ARGV[7])
  if f[4] == ARGV[5] or (grace > 0 and now - tonumber(f[5]) < grace) then
    return {2, f[8], f[9], f[6], f[10]}
  end
elseif p > g then
  return {0}
end
-- A genuine (MAC-verified) used token outside any replay allowance.
local revoked
if ARGV[8] == 'f' then
  revoked = {ARGV[11]}
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[11])
else
  revoked = redis.call('ZRANGE', KEYS[2], 0, -1)
  for i = 1, #revoked do redis.call('DEL', ARGV[10] .. revoked[i]) end
  redis.call('DEL', KEYS[1], KEYS[2])
end
return {3, f[8], revoked}
`)

// revokeScript: ARGV sid, subject ("" for any), now. Deletes the family if it
// belongs to subject. Returns its subject, or false when there was no such
// active session.
var revokeScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'sub', 'exp')
if not f[1] or (ARGV[2] ~= '' and f[1] ~= ARGV[2]) then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(ARGV[3]) >= tonumber(f[2]) then return false end
return f[1]
`)

// revokeAllScript: KEYS[1] the index; ARGV famprefix, now. Deletes every
// family the index names and the index. Returns how many were active.
var revokeAllScript = redis.NewScript(`
local n = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf')
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for i = 1, #ids do redis.call('DEL', ARGV[1] .. ids[i]) end
redis.call('DEL', KEYS[1])
return n
`)

// sessionsScript: KEYS[1] the index; ARGV famprefix, now. Read-only. Returns
// {sid, ct, lu, exp, g, ci} per active session.
var sessionsScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf')
local out = {}
for i = 1, #ids do
  local f = redis.call('HMGET', ARGV[1] .. ids[i], 'ct', 'lu', 'exp', 'g', 'ci')
  if f[1] then out[#out + 1] = {ids[i], f[1], f[2], f[3], f[4], f[5]} end
end
return out
`)
