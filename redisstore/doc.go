// Package redisstore is the session.Store on Redis: one-time-use refresh
// tokens with reuse detection (RFC 6749 §6, RFC 9700 §4.14), each
// operation one atomic Lua script, one round trip. The token service
// (package jwtrefresh) drives it: it holds the refresh-token secrets and
// hands the store decoded tokens, so that the store never sees a token or
// an idempotency key, only hashes.
//
// # Data model
//
// A session (refresh-token family) is a hash with a TTL; a subject's
// sessions are indexed by a sorted set named by the subject's id (an HMAC
// of the subject, 128 bits: never the subject itself, and no two subjects
// share one), scored by when Redis drops each family (at most a tenth of
// the idle timeout after its deadline, so that a rotation rarely touches
// the index). Every key of a subject carries the first 4 bytes of that id
// as its hash tag, so a family and its subject's index share one slot:
// rotation, reuse-revokes-the-subject and logout-everywhere are each one
// script on one node, on standalone Redis, Sentinel, Redis Cluster and
// Valkey alike, and a CROSSSLOT error cannot happen. Tokens are stored only
// as SHA-256 hashes of their proofs and idempotency keys only as hashes: a
// dump of Redis yields no usable token. The wrapped subject-index key of
// session.Secrets.Index lives under <prefix>meta:, without a TTL.
//
// Each family also keeps its seal (session.SealKey): the rotation and
// lookup scripts check it with redis.sha1hex before deciding anything, so
// that a record edited in Redis is refused without a write.
//
// Once a script is loaded, every operation sends exactly one command
// (EVALSHA; EVAL only after NOSCRIPT). Lost replies are harmless: every
// rotation carries an idempotency key hash, so when go-redis re-sends a
// script after a broken connection the second run is a replay of the
// first, not a reuse alarm.
//
// # Push
//
// The store is a session.Watcher. Every script that ends sessions (revoke,
// revoke all, reuse detected, eviction at the cap) publishes their ids,
// space-separated, with PUBLISH on the channel <prefix>ended, in the same
// atomic step that deletes them: no session ends without its message. The
// store's ACL user must be allowed that channel (&<prefix>ended).
//
// Watch subscribes on a connection of its own, verifies the subscription
// with a PING after each second without traffic, and takes a PING
// unanswered for a second, a broken connection or a refused subscription
// as a loss; it subscribes again a second later, until stopped. Pub/Sub
// delivers at most once; the session check of package jwtrefresh trusts no
// cached answer while, or from before, a loss.
//
// On a Redis Cluster, PUBLISH (also from a script) reaches every node over
// the cluster bus, so one subscription, on the master of the channel's
// slot, hears ends on all of them. After that node fails, each new attempt
// asks the client's view of the cluster again, which go-redis refreshes on
// errors and MOVED replies or every ClusterStateReloadInterval. Sharded
// Pub/Sub is not used: it would need a subscription per shard.
//
// # Reuse grace
//
// WithReuseGrace defaults to DefaultReuseGrace, 5 seconds: clients that
// refresh in parallel without an Idempotency-Key (threads sharing one
// OAuth 2.0 session, token sources made from one stored token, browser
// tabs) present one token a few milliseconds to a second apart, and under
// strict one-time use the slower one would revoke every session of the
// user. Within the window only the immediate parent, its child unused,
// gets that byte-identical child; nothing branches, and a thief inside it
// shares the owner's token, so the fork is reuse at the next divergence.
// More than a minute is refused; WithReuseGrace(0) is strict. Why 5 s and
// what a thief gains: docs/protocol.md and docs/security.md in the
// module's repository.
//
// # Time
//
// Every decision (expiry, sliding idle timeout, absolute lifetime, grace
// window, TTLs) is taken inside the scripts against the clock of the Redis
// server that runs them (TIME): on a Cluster, the node holding the subject's
// keys. So a fleet of API servers agrees on every deadline of a session even
// when one server's clock is off by minutes; there is one clock per subject,
// and the application servers' clocks play no part (the service's events
// carry its own time). Keep the Redis nodes' clocks synchronised (NTP) as
// any server's: a step of a node's clock (or a failover to a replica whose
// clock differs) shifts the decisions on its subjects by the size of the
// step. Tests replace the server's clock by their own, to move time
// without sleeping.
//
// Scripts read TIME and then write, which needs effects replication: Redis
// 5 or later (the default since 5; tested with 7), or Valkey.
//
// # Redis settings for production
//
//   - maxmemory-policy noeviction (or a dedicated instance): an evicting
//     policy (allkeys-lru, volatile-*) silently drops sessions, logging users
//     out, and could drop a subject index while its families live on. With
//     noeviction a full Redis refuses writes, which the store reports as
//     session.ErrUnavailable (503), not as invalid_grant.
//   - appendonly yes (appendfsync everysec, or always to lose nothing): without
//     persistence a restart logs everyone out; a lost rotation makes the
//     client's new token unknown (invalid_grant).
//   - Replicas: a failover may lose the last writes acknowledged by the old
//     primary. WithReplicaAck sends WAIT with each write (same round trip)
//     so that a rotation is on a replica before the client gets its new
//     token; min-replicas-to-write / min-replicas-max-lag on the primary
//     are the server-side complement.
//   - Go client: ContextTimeoutEnabled: true (New refuses clients without
//     it), so a context deadline bounds every call and an outage surfaces as
//     session.ErrUnavailable by the deadline.
package redisstore
