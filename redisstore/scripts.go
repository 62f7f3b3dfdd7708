package redisstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

// The scripts. Every operation that changes state is one of them, so each
// decision and its writes are atomic: never GET then SET. The package
// documentation describes the data model; the scripts' own conventions:
//
// Keys: KEYS[1] is the family hash <prefix>{<tag>}:f:<sid>, KEYS[2] the
// subject's index <prefix>{<tag>}:s:<subject id>. Revoking a subject
// reaches the families its index names: they share the declared keys' hash
// tag, hence their slot.
//
// Time: ARGV[1] is "now" in Unix milliseconds, or empty to read the
// server's clock (TIME), so that every instance decides with the clock of
// the node holding the subject. Only tests pass a time.
//
// Replies: every script answers a fixed shape per outcome, decoded once by
// reply.go; anything else is an error.
//
// Numbers (milliseconds, whole) go to redis.call as Lua numbers: Redis
// (and Valkey, and the in-process Redis) prints an integral number in full
// (1733390000123, never 1.7e+12), where string.format would cost more.
// Redis 7.0 prints them with snprintf, though, so the hot paths pass the
// current time as the decimal string N instead. The '(' .. now of a score
// range is printed by Lua itself (%.14g: exact below 10^14 ms).

// luaNow sets now, in milliseconds, from ARGV[1] or the server's clock,
// and N to the same in decimal, built from TIME's digits: Redis 7.0 prints
// a Lua number passed to redis.call with snprintf, which costs more than
// the rest of a rotation's arithmetic.
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

// luaPublish defines publish(ids): PUBLISH the ended session ids
// (space-separated) on the store's channel, <prefix>ended, the prefix
// being what KEYS[1] has before its hash tag. Every script that ends
// sessions calls it, so that no session ends without its message (see
// Watch).
const luaPublish = `
local function publish(ids)
  if #ids == 0 then return end
  local p = string.sub(KEYS[1], 1, string.find(KEYS[1], '{', 1, true) - 1)
  redis.call('PUBLISH', p .. 'ended', table.concat(ids, ' '))
end
`

// luaSealed sets sk to the seal key that opens the record (sc its "sc"
// field, sl its seal), trying ARGV[i] and then ARGV[i+1] ("" when it is the
// same key): the record seal of session.SealKey.Seal over the family key,
// computed with redis.sha1hex. sk stays nil when neither does.
const luaSealed = `
local sk = ARGV[I]
if redis.sha1hex('o' .. sk .. redis.sha1hex('i' .. sk .. KEYS[1] .. SC)) ~= SL then
  sk = ARGV[I + 1]
  if sk == '' or redis.sha1hex('o' .. sk .. redis.sha1hex('i' .. sk .. KEYS[1] .. SC)) ~= SL then sk = nil end
end
`

// luaWrongKey returns WrongProofKey (8) when the record's "sc" (SC) binds
// the session to a DPoP key other than ARGV[K], the thumbprint the caller
// verified a proof with ("" for none). It follows the seal check, which
// covers the binding, and precedes every other decision. sc is
// len:subject, then #thumbprint (43 characters) for a bound session.
const luaWrongKey = `
do
  local n = string.match(SC, '^%d+')
  local o = #n + 2 + tonumber(n)
  if string.byte(SC, o) == 35 and string.sub(SC, o + 1, o + 43) ~= ARGV[K] then return {8} end
end
`

// wrongKey is luaWrongKey reading the record from sc and the presented
// thumbprint from ARGV[k].
func wrongKey(sc string, k int) string {
	return strings.NewReplacer("SC", sc, "ARGV[K]", fmt.Sprintf("ARGV[%d]", k)).Replace(luaWrongKey)
}

// sealed is luaSealed reading the record from fields sc and sl of f, and
// the keys from ARGV[i], ARGV[i+1].
func sealed(sc, sl string, i int) string {
	return strings.NewReplacer("ARGV[I]", fmt.Sprintf("ARGV[%d]", i), "ARGV[I + 1]", fmt.Sprintf("ARGV[%d]", i+1),
		"SC", sc, "SL", sl).Replace(luaSealed)
}

// Outcome codes of the rotation and lookup scripts: session.Outcome.
const (
	outInvalid  = int64(session.Invalid)
	outRotated  = int64(session.Rotated)
	outReplayed = int64(session.Replayed)
	outReused   = int64(session.Reused)
	outRepeated = int64(session.KeyRepeated)
	outTampered = int64(session.Tampered)
	outFound    = int64(session.Found)
	outHealed   = int64(session.Healed)
	outWrongKey = int64(session.WrongProofKey)
)

// createBody: ARGV now, c, sc, ci, sl, n. Header: IDLE, IDLES (the same
// as a string), ABS (0: none), SLACK, MAX, SIDLEN. Drops index entries
// past their gc, evicts the sessions closest to expiry beyond MAX-1
// (publishing their ids), stores the family. Returns {deadline, evicted
// ids}.
const createBody = luaNow + luaDeadline + luaPublish + `
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
  local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', kth[2] + SLACK)
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
  publish(evicted)
end
-- The fields a rotation reads come first: a small hash is a list that
-- Redis searches from its start. p and ik are set by the first rotation.
redis.call('HSET', KEYS[1], 'c', ARGV[2], 'ik', '', 'sl', ARGV[5], 'sc', ARGV[3],
  'lu', N, 'id', IDLE, 'abs', abs, 'gc', gc, 'p', '', 'n', ARGV[6], 'ct', N, 'ci', ARGV[4], 'v', '3')
redis.call('PEXPIRE', KEYS[1], gc - now)
redis.call('ZADD', KEYS[2], gc, sid)
if redis.call('PTTL', KEYS[2]) < gc - now then redis.call('PEXPIRE', KEYS[2], gc - now) end
return {exp, evicted}
`

// rotateBody: ARGV now, presented token (as field c), its child
// (likewise), key hash, the seal key under the current secret and under
// the presented token's ("" when the same), the grandchild (as field n),
// the thumbprint of the DPoP key the caller verified a proof with (""
// for none). Header: IDLE, IDLES, GRACE, SLACK, FAMILY (reuse revokes only
// the family), SIDLEN.
//
// Returns {0} invalid; {1, deadline, sc} rotated; {7, deadline, sc}
// healed; {2, deadline, sc, kv} replay of the current child (made under
// secret version kv); {3, sc, active sessions revoked} reuse, the revoked
// ids published; {4} key repeated; {5} tampered; {8} bound to another
// DPoP key.
//
// The hot path (the current token) reads eight fields of one hash,
// checks the seal and writes five fields; the parent's and the commitment
// (n) are read only when the current token was not presented. A presented
// token equal to n heals: it is rotated as if current. A record without a
// seal (of an older format, or stripped of it) is invalid.
var rotateBody = luaNow + `
local f = redis.call('HMGET', KEYS[1], 'c', 'lu', 'id', 'abs', 'gc', 'sc', 'ik', 'sl')
if not f[8] then return {0} end
local idle = IDLE
if f[3] ~= IDLES then idle = tonumber(f[3]) end
local exp = f[2] + idle
local abs = 0
if f[4] ~= '0' then abs = tonumber(f[4]) end
if abs > 0 and abs < exp then exp = abs end
if now >= exp then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], string.sub(KEYS[1], -SIDLEN))
  return {0}
end
` + sealed("f[6]", "f[8]", 5) + `
if not sk then return {5} end
` + wrongKey("f[6]", 8) + `
local heal = f[1] ~= ARGV[2] and redis.call('HGET', KEYS[1], 'n') == ARGV[2]
if f[1] == ARGV[2] or heal then
  local out = heal and 7 or 1
  if f[7] == ARGV[4] then return {4} end
  if sk ~= ARGV[5] then
    redis.call('HSET', KEYS[1], 'sl', redis.sha1hex('o' .. ARGV[5] .. redis.sha1hex('i' .. ARGV[5] .. KEYS[1] .. f[6])))
  end
  exp = now + IDLE
  if abs > 0 and abs < exp then exp = abs end
  local gc = tonumber(f[5])
  if gc >= exp and f[3] == IDLES then
    redis.call('HSET', KEYS[1], 'c', ARGV[3], 'p', ARGV[2], 'n', ARGV[7], 'ik', ARGV[4], 'lu', N)
    return {out, exp, f[6]}
  end
  local ext = gc < exp
  if ext then gc = exp + SLACK end
  redis.call('HSET', KEYS[1], 'c', ARGV[3], 'p', ARGV[2], 'n', ARGV[7], 'ik', ARGV[4], 'lu', N, 'id', IDLE, 'gc', gc)
  if ext then
    redis.call('PEXPIRE', KEYS[1], gc - now)
    redis.call('ZADD', KEYS[2], gc, string.sub(KEYS[1], -SIDLEN))
    if redis.call('PTTL', KEYS[2]) < gc - now then redis.call('PEXPIRE', KEYS[2], gc - now) end
  end
  return {out, exp, f[6]}
end
local g = tonumber(string.match(f[1], '^%d+', 33))
local p = tonumber(string.match(ARGV[2], '^%d+', 33))
if p >= g then return {0} end
if p == g - 1 then
  local r = redis.call('HMGET', KEYS[1], 'p', 'ik')
  if r[1] ~= ARGV[2] then return {0} end
  if r[2] == ARGV[4] or (GRACE > 0 and now - f[2] < GRACE) then
    return {2, exp, f[6], tonumber(string.match(f[1], ':(%d+)$'))}
  end
end
-- A genuine (MAC-verified) used token outside any replay allowance.
` + luaPublish + `
if FAMILY then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], string.sub(KEYS[1], -SIDLEN))
  publish({string.sub(KEYS[1], -SIDLEN)})
  return {3, f[6], 1}
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
publish(ids)
return {3, f[6], n}
`

// lookupBody: KEYS[1] the family; ARGV now, the seal keys and the DPoP
// thumbprint as for rotateBody. Read-only. Returns {6, sc} when the family
// is active and sealed, {5} tampered, {8} bound to another key, else {0}.
var lookupBody = `
local f = redis.call('HMGET', KEYS[1], 'sc', 'lu', 'id', 'abs', 'sl')
if not f[5] then return {0} end
` + luaNow + `
local exp = f[2] + f[3]
local abs = tonumber(f[4])
if abs > 0 and abs < exp then exp = abs end
if now >= exp then return {0} end
` + sealed("f[1]", "f[5]", 2) + `
if not sk then return {5} end
` + wrongKey("f[1]", 4) + `
return {6, f[1]}
`

// scripts are a Store's scripts specialised to its configuration: a
// header of Lua constants precedes the body, so calls carry no
// configuration and the scripts parse none.
type scripts struct {
	create, rotate, lookup, revoke *redis.Script
}

func newScripts(cfg config) scripts {
	idle := cfg.idle.Milliseconds()
	sidLen := fmt.Sprintf("local SIDLEN = %d\n", session.SessionIDLen)
	common := fmt.Sprintf("local IDLE, IDLES, SLACK = %d, '%d', %d\n",
		idle, idle, (cfg.idle/10).Milliseconds()) + sidLen
	return scripts{
		create: redis.NewScript(common + fmt.Sprintf("local ABS, MAX = %d, %d\n",
			cfg.abs.Milliseconds(), cfg.max) + createBody),
		rotate: redis.NewScript(common + fmt.Sprintf("local GRACE, FAMILY = %d, %t\n",
			graceMS(cfg.grace), cfg.policy == session.RevokeFamily) + rotateBody),
		lookup: redis.NewScript(sidLen + lookupBody),
		revoke: redis.NewScript(sidLen + revokeBody),
	}
}

// graceMS is the grace window in whole milliseconds, rounded up so that a
// window shorter than a millisecond is not silently off.
func graceMS(d time.Duration) int64 {
	return (d + time.Millisecond - 1).Milliseconds()
}

// revokeBody: ARGV now, the subject's "sc" prefix ("" for any). Deletes
// the family if its record names the subject, and publishes its id.
// Returns {sc}, or {} when there was no such active session.
const revokeBody = luaDeadline + luaPublish + `
local sc = redis.call('HGET', KEYS[1], 'sc')
if not sc or string.sub(sc, 1, #ARGV[2]) ~= ARGV[2] then return {} end
local exp = deadline(KEYS[1])
local sid = string.sub(KEYS[1], -SIDLEN)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], sid)
publish({sid})
` + luaNow + `
if now >= exp then return {} end
return {sc}
`

// revokeAllScript: KEYS[1] the index; ARGV now, family key prefix. Deletes
// every family the index names and the index, and publishes their ids.
// Returns {active sessions deleted}.
var revokeAllScript = redis.NewScript(luaNow + luaDeadline + luaPublish + `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local n = 0
for i = 1, #ids do
  local e = deadline(ARGV[2] .. ids[i])
  if e and e > now then n = n + 1 end
  redis.call('DEL', ARGV[2] .. ids[i])
end
redis.call('DEL', KEYS[1])
publish(ids)
return {n}
`)

// sessionsScript: KEYS[1] the index; ARGV now, family key prefix.
// Read-only. Returns {sid, ct, lu, deadline, generation, ci} per active
// session.
var sessionsScript = redis.NewScript(luaNow + `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local out = {}
for i = 1, #ids do
  local f = redis.call('HMGET', ARGV[2] .. ids[i], 'lu', 'id', 'abs', 'ct', 'c', 'ci')
  if f[1] and f[5] then
    local exp = f[1] + f[2]
    local abs = tonumber(f[3])
    if abs > 0 and abs < exp then exp = abs end
    if exp > now then
      out[#out + 1] = {ids[i], tonumber(f[4]), tonumber(f[1]), exp, tonumber(string.match(f[5], '^%d+', 33)), f[6] or ''}
    end
  end
end
return out
`)

// activeScript: KEYS[1] the family; ARGV now, the subject's "sc" prefix.
// Read-only. Returns the family's deadline (Unix milliseconds) when its
// record names the subject and it has not expired, else 0.
var activeScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'sc', 'lu', 'id', 'abs')
if not f[1] or string.sub(f[1], 1, #ARGV[2]) ~= ARGV[2] then return 0 end
` + luaNow + `
local exp = f[2] + f[3]
local abs = tonumber(f[4])
if abs > 0 and abs < exp then exp = abs end
if now < exp then return exp end
return 0
`)

// loadOrStoreScript: KEYS[1] the entry; ARGV value ("" only loads).
// Returns the stored value, or false.
var loadOrStoreScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v or ARGV[1] == '' then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)
