package redisstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

// Option configures a Store. Options report bad values as errors wrapping
// ErrInvalidConfig, returned by New; a nil Option is such an error too.
type Option func(*config) error

type config struct {
	prefix  string
	grace   time.Duration
	policy  session.ReusePolicy
	idle    time.Duration
	abs     time.Duration
	max     int
	timeout time.Duration
	now     func() time.Time // nil: the Redis server's clock

	watchEvery time.Duration // see defaultWatchEvery

	ackReplicas int
	ackTimeout  time.Duration
}

// Defaults of the configuration.
const (
	// DefaultKeyPrefix starts every key of a Store without WithKeyPrefix.
	DefaultKeyPrefix = "jwtrefresh:"
	// DefaultIdleTimeout: a session unused this long expires (sliding;
	// RFC 9700 §4.14.2 asks refresh tokens to expire when idle).
	DefaultIdleTimeout = 30 * 24 * time.Hour
	// DefaultMaxSessions per subject; one more login evicts the session
	// closest to expiry, so per-subject work and memory stay bounded.
	DefaultMaxSessions = 100
	// DefaultTimeout bounds an operation whose context has no deadline.
	DefaultTimeout = 3 * time.Second
	// DefaultReuseGrace is the reuse grace window of a Store without
	// WithReuseGrace; the package documentation's "Reuse grace" section
	// says why 5 seconds.
	DefaultReuseGrace = 5 * time.Second
	// maxReuseGrace is the longest grace window WithReuseGrace takes.
	maxReuseGrace = time.Minute
)

func defaults() config {
	return config{
		prefix:  DefaultKeyPrefix,
		grace:   DefaultReuseGrace,
		policy:  session.RevokeSubject,
		idle:    DefaultIdleTimeout,
		max:     DefaultMaxSessions,
		timeout: DefaultTimeout,

		watchEvery: defaultWatchEvery,
	}
}

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// WithKeyPrefix sets the prefix of every key (default DefaultKeyPrefix),
// to share a database with other data or run several stores side by side.
// A prefix containing '{' or '}' is refused: it would move the keys' hash
// tag, which keeps each subject in one Cluster slot.
func WithKeyPrefix(p string) Option {
	return func(c *config) error {
		if strings.ContainsAny(p, "{}") {
			return configError("WithKeyPrefix(%q): '{' and '}' would change the keys' hash slot", p)
		}
		c.prefix = p
		return nil
	}
}

// WithReuseGrace lets the immediate parent of the current token, presented
// within d of the rotation that used it up while its child is unused, get
// that child again (byte-identical; nothing branches), so that clients
// refreshing in parallel without an Idempotency-Key (threads sharing one
// session, browser tabs) all continue with one token. Default
// DefaultReuseGrace; 0 is strict one-time use, where only a retry with the
// same idempotency key is a replay; more than a minute is refused.
// Resolution: milliseconds, rounded up.
//
// Security: within the window a thief presenting the parent gets the same
// child as its owner instead of tripping reuse detection; the first of the
// two to refresh again outside the window uses that child up, and the
// other's next refresh is reuse. A grandparent, or a parent whose child
// was used, is reuse at once. See the package documentation's "Reuse
// grace" section.
func WithReuseGrace(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > maxReuseGrace {
			return configError("WithReuseGrace(%v): want 0 (strict) to %v", d, maxReuseGrace)
		}
		c.grace = d
		return nil
	}
}

// WithReusePolicy says what reuse detection revokes: every session of the
// subject (session.RevokeSubject, the default) or only the reused family
// (session.RevokeFamily). Security: a replayed token proves a copy exists;
// revoking the subject also ends sessions a thief may have started with
// stolen credentials.
func WithReusePolicy(p session.ReusePolicy) Option {
	return func(c *config) error {
		if p != session.RevokeSubject && p != session.RevokeFamily {
			return configError("WithReusePolicy(%d): unknown policy", p)
		}
		c.policy = p
		return nil
	}
}

// WithLifetime sets the sliding idle timeout (a session not refreshed for
// idle expires; default DefaultIdleTimeout, at least a millisecond) and the
// absolute lifetime (a session ends that long after its login however
// active it is; default 0: none). A changed idle timeout applies to each
// session from its next rotation; the absolute deadline is fixed at login.
//
// Security: the absolute lifetime is the only bound on a stolen session
// whose owner never refreshes again (a lost device): reuse detection needs
// the owner's copy to come back, and each of the thief's refreshes slides
// the idle timeout. Set one (90 days, say) unless sessions must last
// forever.
func WithLifetime(idle, absolute time.Duration) Option {
	return func(c *config) error {
		if idle < time.Millisecond || absolute < 0 {
			return configError("WithLifetime(%v, %v): want idle >= 1ms and absolute >= 0", idle, absolute)
		}
		c.idle, c.abs = idle, absolute
		return nil
	}
}

// WithMaxSessions caps a subject's sessions (default DefaultMaxSessions,
// at least 1). A login beyond the cap evicts the session closest to
// expiry (the least recently used one unless absolute lifetimes differ).
func WithMaxSessions(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return configError("WithMaxSessions(%d): want at least 1", n)
		}
		c.max = n
		return nil
	}
}

// WithReplicaAck makes every write (Create, Rotate, the revocations) wait
// until at least n replicas have it, for up to timeout (Redis WAIT, in the
// same round trip as the script). If fewer acknowledge in time the
// operation returns session.ErrUnavailable: the write may be lost by a
// failover, so the client retries, and a retry with the same idempotency
// key replays. Needs a *redis.Client (standalone or Sentinel) or a
// *redis.ClusterClient. Default: no waiting.
//
// Security: without it, a primary that fails right after a rotation can be
// replaced by a replica where the parent is still current, so the child
// the client holds is unknown and the client is logged out. WAIT is met
// only while n replicas are connected: run n+1 of them.
func WithReplicaAck(n int, timeout time.Duration) Option {
	return func(c *config) error {
		if n < 1 || timeout <= 0 {
			return configError("WithReplicaAck(%d, %v): want n >= 1 and a positive timeout", n, timeout)
		}
		c.ackReplicas, c.ackTimeout = n, timeout
		return nil
	}
}
