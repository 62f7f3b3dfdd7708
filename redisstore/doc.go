// Package redisstore is the rotation store of package jwtrefresh on Redis:
// one-time-use refresh tokens with reuse detection (RFC 6749 §6, RFC 9700
// §4.14), each operation one atomic Lua script, one round trip.
//
// # Data model
//
// A session (refresh-token family) is a hash with a TTL; a subject's sessions
// are indexed by a sorted set scored by expiry deadline, named by the
// subject's id (HMAC(refresh key, subject), 128 bits: never the subject
// itself, and no two subjects share one). Every key of a subject carries the
// first 4 bytes of that id as its hash tag, so a family and its subject's
// index share one slot: rotation,
// reuse-revokes-the-subject and logout-everywhere are each one script on one
// node, on standalone Redis, Sentinel, Redis Cluster and Valkey alike, and a
// CROSSSLOT error cannot happen. Tokens are stored only as SHA-256 hashes of
// their secrets and idempotency keys only as hashes: a dump of Redis yields no
// usable token.
//
// Once a script is loaded, Create, Rotate, RevokeToken, RevokeSession and
// RevokeAll send exactly one command (EVALSHA; EVAL only after NOSCRIPT), and
// Active one HMGET. Lost replies are harmless: every rotation carries an
// idempotency key, so when go-redis re-sends a script after a broken
// connection the second run is a replay of the first, not a reuse alarm.
//
// # Redis settings for production
//
//   - maxmemory-policy noeviction (or a dedicated instance): an evicting
//     policy (allkeys-lru, volatile-*) silently drops sessions, logging users
//     out, and could drop a subject index while its families live on. With
//     noeviction a full Redis refuses writes, which the store reports as
//     jwtrefresh.ErrUnavailable (503), not as invalid_grant.
//   - appendonly yes (appendfsync everysec, or always to lose nothing): without
//     persistence a restart logs everyone out; a lost rotation makes the
//     client's new token unknown (invalid_grant).
//   - Replicas: a failover may lose the last writes acknowledged by the old
//     primary. Set min-replicas-to-write / min-replicas-max-lag on the
//     primary, or have the client wrapper issue WAIT 1 <ms> after rotations,
//     so that an acknowledged rotation is on a replica before the client
//     gets its new token.
//   - Go client: ContextTimeoutEnabled: true (New refuses clients without
//     it), so a context deadline bounds every call and an outage surfaces as
//     jwtrefresh.ErrUnavailable by the deadline.
//
// Time: every decision (expiry, grace window, TTLs) uses the clock given by
// WithClock (default time.Now) of the calling instance; keep instances' clocks
// synchronised (NTP).
package redisstore
