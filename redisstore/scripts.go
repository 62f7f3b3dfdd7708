package redisstore

import (
	"fmt"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/redis/go-redis/v9"
)

// The scripts. Every operation that changes state is one of them, so each
// decision and its writes are atomic: never GET then SET.
//
// Keys: KEYS[1] is the family hash <prefix>{<tag>}:f:<sid>, KEYS[2] the
// subject's index <prefix>{<tag>}:s:<subject id>, a sorted set of session
// ids. Revoking a subject reaches the families the index names; they share
// the declared keys' hash tag, hence their slot.
//
// Time. ARGV[1] of every script is "now" in Unix milliseconds, or empty:
// then the script reads the Redis server's clock (TIME), so every instance
// of a deployment decides with one clock, that of the node holding the
// subject's keys. Only WithClock passes a time. Scripts return the time they
// decided at, for events.
//
// Family fields (format 2):
//
//	c    the current token: SHA-256 of its secret (32 bytes), its generation
//	     and key version in decimal ("<hash><gen>:<kv>"): the hot path checks
//	     the presented token with one string comparison
//	p    the parent of c, likewise (absent at generation 1)
//	ik   hashed idempotency key of the rotation that made c
//	lu   time of that rotation (last used; the login's at first)
//	id   idle timeout in force since then (ms)
//	abs  absolute deadline (0: none)
//	gc   when Redis drops the key (its TTL)
//	sc   subject and claims snapshot, as "<len(subject)>:<subject><claims>"
//	sub  subject, alone (revocation and session checks compare it)
//	ct   created; ci client info (JSON); v format
//
// A family's deadline is min(lu + id, abs), so a rotation writes four fields
// of one hash (c, p, ik, lu) and nothing else. Times are Unix milliseconds.
//
// Expiry is decided by the deadline, checked by every script; TTLs only
// collect garbage. A TTL that falls short of a new deadline is set "slack"
// (a tenth of the idle timeout) beyond it and recorded in gc, so most
// rotations leave TTLs alone. The index is kept the same lazy way: a
// family's score is its gc, rewritten only with gc, and the index TTL is
// checked only then, so the index outlives every family it names. Always
// deadline <= gc, so a score at or before now proves a family expired; and as
// deadlines only move forward (unless the clock steps back), gc <= deadline +
// slack, so the families closest to expiry are found among the lowest scores
// (see createBody).
//
// Scripts that depend on the configuration (idle timeout, grace window,
// policy, cap) are specialised per Store: a header of Lua constants precedes
// the body, so calls carry no configuration and the scripts parse none.
//
// Numbers handed to redis.call are formatted with '%.0f' first (Redis would
// print a bare Lua number such as 1.7e12 as "1.7e+12").

// luaNow sets now (a number) and N (the same as a string) from ARGV[1] or,
// when it is empty, from the server's clock. N is built from TIME's digits,
// without formatting a number: in Redis's Lua that costs a microsecond.
const luaNow = `
local N = ARGV[1]
if N == '' then
  local t = redis.call('TIME')
  N = t[1] .. string.sub('00000' .. t[2], -6, -4)
end
local now = tonumber(N)
`

// luaDeadline defines deadline(key): when the family at key expires, or
// false when there is no such family.
const luaDeadline = `
local function deadline(key)
  local d = redis.call('HMGET', key, 'lu', 'id', 'abs')
  if not d[1] then return false end
  local e = d[1] + d[2]
  local a = tonumber(d[3])
  if a > 0 and a < e then return a end
  return e
end
`

// createBody: ARGV now, sub, c, sc, ci. Header: IDLE, IDLES (the same as a
// string), ABS (absolute lifetime, 0: none), SLACK, MAX, SIDLEN.
// Drops index entries whose key is past its gc, evicts the sessions closest
// to expiry beyond MAX-1, stores the family. Returns {now, deadline, evicted
// ids}.
const createBody = luaNow + luaDeadline + `
local exp = now + IDLE
local abs = 0
if ABS > 0 then
  abs = now + ABS
  if abs < exp then exp = abs end
end
local gc = exp + SLACK
local sid = string.sub(KEYS[1], -SIDLEN)
local fp = string.sub(KEYS[1], 1, -SIDLEN - 1)
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', N)
if #gone > 0 then
  for i = 1, #gone do redis.call('DEL', fp .. gone[i]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', N)
end
local n = redis.call('ZCARD', KEYS[2])
local evicted = {}
if n >= MAX then
  -- Make room for one: drop the k families with the earliest deadlines.
  -- Each deadline lies in [score - SLACK, score], so only families scored
  -- up to the k-th lowest score + SLACK can be among them.
  local k = n - MAX + 1
  local kth = redis.call('ZRANGE', KEYS[2], k - 1, k - 1, 'WITHSCORES')
  local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', kth[2] + SLACK))
  local cand = {}
  for i = 1, #ids do cand[i] = {deadline(fp .. ids[i]) or 0, ids[i]} end
  table.sort(cand, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
  for i = 1, k do
    local id = cand[i][2]
    redis.call('DEL', fp .. id)
    redis.call('ZREM', KEYS[2], id)
    -- An expired family makes room without counting as an eviction.
    if cand[i][1] > now then evicted[#evicted + 1] = id end
  end
end
local G = string.format('%.0f', gc)
local ttl = string.format('%.0f', gc - now)
redis.call('HSET', KEYS[1], 'c', ARGV[3], 'lu', N, 'id', IDLES,
  'abs', string.format('%.0f', abs), 'gc', G, 'sc', ARGV[4], 'sub', ARGV[2],
  'ct', N, 'ci', ARGV[5], 'v', '2')
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], G, sid)
if redis.call('PTTL', KEYS[2]) < gc - now then redis.call('PEXPIRE', KEYS[2], ttl) end
return {now, exp, evicted}
`

// Outcomes of the rotation script.
const (
	outInvalid = 0
	outRotated = 1
	outReplay  = 2
	outReuse   = 3
)

// replyLen is the length of the rotation script's reply per outcome.
var replyLen = [...]int{outInvalid: 1, outRotated: 4, outReplay: 5, outReuse: 4}

// rotateBody: ARGV now, presented token (as field c), its child (likewise),
// idempotency key hash. Header: IDLE, IDLES, GRACE, SLACK, FAMILY (reuse
// revokes only the family), SIDLEN.
//
// Returns {0} invalid; {1, now, deadline, sc} rotated; {2, now, deadline,
// sc, kv} replay of the current child (made under key version kv); {3, now,
// sub, active sessions revoked} reuse detected.
//
// The hot path (the current token) reads six fields and writes four: the
// parent's fields are read only when the current token was not presented.
const rotateBody = luaNow + `
local f = redis.call('HMGET', KEYS[1], 'c', 'lu', 'id', 'abs', 'gc', 'sc')
if not f[1] then return {0} end
local exp = f[2] + f[3]
local abs = tonumber(f[4])
if abs > 0 and abs < exp then exp = abs end
if now >= exp then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], string.sub(KEYS[1], -SIDLEN))
  return {0}
end
if f[1] == ARGV[2] then
  exp = now + IDLE
  if abs > 0 and abs < exp then exp = abs end
  local gc = tonumber(f[5])
  if gc >= exp and f[3] == IDLES then
    redis.call('HSET', KEYS[1], 'c', ARGV[3], 'p', ARGV[2], 'ik', ARGV[4], 'lu', N)
    return {1, now, exp, f[6]}
  end
  local ext = gc < exp
  if ext then gc = exp + SLACK end
  local G = string.format('%.0f', gc)
  redis.call('HSET', KEYS[1], 'c', ARGV[3], 'p', ARGV[2], 'ik', ARGV[4], 'lu', N, 'id', IDLES, 'gc', G)
  if ext then
    local ttl = string.format('%.0f', gc - now)
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('ZADD', KEYS[2], G, string.sub(KEYS[1], -SIDLEN))
    if redis.call('PTTL', KEYS[2]) < gc - now then redis.call('PEXPIRE', KEYS[2], ttl) end
  end
  return {1, now, exp, f[6]}
end
local g = tonumber(string.match(f[1], '^%d+', 33))
local p = tonumber(string.match(ARGV[2], '^%d+', 33))
if p >= g then return {0} end
if p == g - 1 then
  local r = redis.call('HMGET', KEYS[1], 'p', 'ik')
  if r[1] ~= ARGV[2] then return {0} end
  if r[2] == ARGV[4] or (GRACE > 0 and now - f[2] < GRACE) then
    return {2, now, exp, f[6], tonumber(string.match(f[1], ':(%d+)$'))}
  end
end
-- A genuine (MAC-verified) used token outside any replay allowance.
local sub = redis.call('HGET', KEYS[1], 'sub')
if FAMILY then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], string.sub(KEYS[1], -SIDLEN))
  return {3, now, sub, 1}
end
` + luaDeadline + `
local fp = string.sub(KEYS[1], 1, -SIDLEN - 1)
local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
local n = 0
for i = 1, #ids do
  local e = deadline(fp .. ids[i])
  if e and e > now then n = n + 1 end
  redis.call('DEL', fp .. ids[i])
end
redis.call('DEL', KEYS[1], KEYS[2])
return {3, now, sub, n}
`

// scripts are a Store's scripts specialised to its configuration.
type scripts struct {
	create, rotate *redis.Script
}

func newScripts(cfg config) scripts {
	idle := cfg.idle.Milliseconds()
	common := fmt.Sprintf("local IDLE, IDLES, SLACK, SIDLEN = %d, '%d', %d, %d\n",
		idle, idle, (cfg.idle / 10).Milliseconds(), jwtrefresh.SessionIDLen)
	return scripts{
		create: redis.NewScript(common + fmt.Sprintf("local ABS, MAX = %d, %d\n",
			cfg.abs.Milliseconds(), cfg.max) + createBody),
		rotate: redis.NewScript(common + fmt.Sprintf("local GRACE, FAMILY = %d, %t\n",
			graceMS(cfg.grace), cfg.policy == jwtrefresh.RevokeFamily) + rotateBody),
	}
}

// graceMS is the grace window in whole milliseconds, rounded up so that a
// window shorter than a millisecond is not silently off.
func graceMS(d time.Duration) int64 {
	return (d + time.Millisecond - 1).Milliseconds()
}

// revokeScript: ARGV now, subject ("" for any). Deletes the family if it
// belongs to subject. Returns {subject, now}, or false when there was no
// such active session.
var revokeScript = redis.NewScript(luaDeadline + `
local sub = redis.call('HGET', KEYS[1], 'sub')
if not sub or (ARGV[2] ~= '' and sub ~= ARGV[2]) then return false end
local exp = deadline(KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], string.sub(KEYS[1], -` + fmt.Sprint(jwtrefresh.SessionIDLen) + `))
` + luaNow + `
if now >= exp then return false end
return {sub, now}
`)

// revokeAllScript: KEYS[1] the index; ARGV now, famprefix. Deletes every
// family the index names and the index. Returns {active sessions deleted,
// now}.
var revokeAllScript = redis.NewScript(luaNow + luaDeadline + `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local n = 0
for i = 1, #ids do
  local e = deadline(ARGV[2] .. ids[i])
  if e and e > now then n = n + 1 end
  redis.call('DEL', ARGV[2] .. ids[i])
end
redis.call('DEL', KEYS[1])
return {n, now}
`)

// sessionsScript: KEYS[1] the index; ARGV now, famprefix. Read-only.
// Returns {sid, ct, lu, deadline, generation, ci} per active session.
var sessionsScript = redis.NewScript(luaNow + `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. N, '+inf')
local out = {}
for i = 1, #ids do
  local f = redis.call('HMGET', ARGV[2] .. ids[i], 'lu', 'id', 'abs', 'ct', 'c', 'ci')
  if f[1] and f[5] then
    local exp = f[1] + f[2]
    local abs = tonumber(f[3])
    if abs > 0 and abs < exp then exp = abs end
    if exp > now then
      out[#out + 1] = {ids[i], f[4], f[1], string.format('%.0f', exp), string.match(f[5], '^%d+', 33), f[6]}
    end
  end
end
return out
`)

// lookupScript: KEYS[1] the family; ARGV now. Read-only. Returns the
// family's sc (subject and claims) when it has not expired, else false.
var lookupScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'sc', 'lu', 'id', 'abs')
if not f[1] then return false end
` + luaNow + `
local exp = f[2] + f[3]
local abs = tonumber(f[4])
if abs > 0 and abs < exp then exp = abs end
if now < exp then return f[1] end
return false
`)

// activeScript: KEYS[1] the family; ARGV now, subject. Read-only. Returns 1
// when the family belongs to subject and has not expired, else 0.
var activeScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'sub', 'lu', 'id', 'abs')
if f[1] ~= ARGV[2] then return 0 end
` + luaNow + `
local exp = f[2] + f[3]
local abs = tonumber(f[4])
if abs > 0 and abs < exp then exp = abs end
if now < exp then return 1 end
return 0
`)
