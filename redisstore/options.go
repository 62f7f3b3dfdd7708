package redisstore

import (
	"log/slog"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
)

// Option configures a Store.
type Option func(*config)

type config struct {
	prefix  string
	grace   time.Duration
	policy  jwtrefresh.ReusePolicy
	idle    time.Duration
	abs     time.Duration
	max     int
	timeout time.Duration
	now     func() time.Time // nil: the Redis server's clock
	hook    jwtrefresh.EventHook
	log     *slog.Logger

	ackReplicas int
	ackTimeout  time.Duration
	clockSet    bool
}

// DefaultKeyPrefix starts every key of a Store without WithKeyPrefix.
const DefaultKeyPrefix = "jwtrefresh:"

// DefaultTimeout bounds an operation whose context has no deadline.
const DefaultTimeout = 3 * time.Second

func defaults() config {
	return config{
		prefix:  DefaultKeyPrefix,
		policy:  jwtrefresh.RevokeSubject,
		idle:    jwtrefresh.DefaultIdleTimeout,
		max:     jwtrefresh.DefaultMaxSessions,
		timeout: DefaultTimeout,
	}
}

// WithKeyPrefix sets the prefix of every key (default DefaultKeyPrefix), to
// share a database with other data or run several stores side by side. It
// must not contain '{' or '}' (ErrKeyPrefix): the keys' hash tag comes after
// it.
func WithKeyPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithReuseGrace lets the immediate parent of the current token, presented
// within d of the rotation that used it up, receive that rotation's child
// again (byte-identical; nothing branches). Default 0: strict one-time use,
// where only a retry carrying the same idempotency key is a replay.
//
// Security: during the window a thief holding the parent gets the same
// child as its owner instead of tripping reuse detection, so keep it to
// seconds, for clients that cannot send an Idempotency-Key (browser tabs
// racing). Only the immediate parent ever qualifies, and never once its
// child has been used. Resolution: milliseconds (rounded up).
func WithReuseGrace(d time.Duration) Option { return func(c *config) { c.grace = d } }

// WithReusePolicy says what reuse detection revokes: every session of the
// subject (jwtrefresh.RevokeSubject, the default) or only the reused family
// (jwtrefresh.RevokeFamily). Security: a replayed token proves a copy exists
// somewhere; revoking the subject also ends sessions the thief may have
// started with stolen credentials.
func WithReusePolicy(p jwtrefresh.ReusePolicy) Option { return func(c *config) { c.policy = p } }

// WithIdleTimeout sets the sliding idle timeout: a session not refreshed for
// d expires (default jwtrefresh.DefaultIdleTimeout, 30 days). Redis then
// deletes it by TTL. A session keeps the idle timeout in force at its last
// rotation, so a changed setting applies to each session from its next
// rotation (or login). Resolution: milliseconds.
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idle = d } }

// WithAbsoluteLifetime ends every session d after its login however active it
// is (default 0: no absolute limit). The deadline is fixed at login: a
// changed setting applies to sessions begun after it. Security: bounds how
// long a stolen but still rotating family can live.
func WithAbsoluteLifetime(d time.Duration) Option { return func(c *config) { c.abs = d } }

// WithMaxSessions caps a subject's sessions (default
// jwtrefresh.DefaultMaxSessions, 100). A login beyond the cap evicts the
// session closest to expiry (the least recently used one unless absolute
// lifetimes differ), reported as EventEvict.
func WithMaxSessions(n int) Option { return func(c *config) { c.max = n } }

// WithTimeout bounds operations whose context has no deadline (default
// DefaultTimeout). A context deadline always wins.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithClock makes every decision (expiry, idle timeout, grace window,
// absolute lifetime, TTLs, event times) use the time now returns instead of
// the Redis server's clock, the default. Tests use it to move time without
// sleeping. In production, leave the default: the scripts then read the
// clock of the Redis node that holds the subject's keys (TIME), so a fleet of
// instances agrees on every deadline even when one instance's clock is off;
// with WithClock, each instance decides by its own clock, and one whose
// clock is minutes off expires sessions early or stretches the grace window
// for everyone. A nil now is ErrConfig.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now, c.clockSet = now, true }
}

// WithEvents sets a hook receiving every session event (see
// jwtrefresh.EventHook). Default: none.
func WithEvents(h jwtrefresh.EventHook) Option { return func(c *config) { c.hook = h } }

// WithLogger logs every session event on l (levels by
// jwtrefresh.EventKind.Level); never a token, secret or idempotency key.
// Default: no logging.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithReplicaAck makes every write (Create, Rotate, the revocations) wait
// until at least n replicas have it, for up to timeout (Redis WAIT, sent in
// the same round trip as the script: two commands instead of one). If fewer
// acknowledge in time the operation returns jwtrefresh.ErrUnavailable: the
// write may be lost by a failover, so the client retries, and a retried
// rotation with the same idempotency key replays. Default 0: no waiting.
//
// Security: without it, a primary that fails right after a rotation can
// come back (as a promoted replica) with the parent still current, so the
// child the client holds is unknown and the client is logged out. WAIT does
// not make Redis strongly consistent, but it closes that window for
// acknowledged writes. Needs a *redis.Client (standalone or Sentinel) or a
// *redis.ClusterClient.
func WithReplicaAck(n int, timeout time.Duration) Option {
	return func(c *config) { c.ackReplicas, c.ackTimeout = n, timeout }
}
