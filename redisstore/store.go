package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/nilcheck"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

// store is the session.Store on Redis; see New.
type store struct {
	rdb redis.UniversalClient
	cfg config
	sc  scripts
}

var _ session.Store = (*store)(nil)

// serverClock is the "now" argument that makes a script read the Redis
// server's clock.
var serverClock any = ""

// New returns a session.Store keeping sessions in rdb: a standalone,
// Sentinel or Cluster client, or any UniversalClient (Valkey works
// alike). Clients built by go-redis must set ContextTimeoutEnabled: true,
// so that context deadlines bound every call. It is safe for concurrent
// use, and any number of stores (processes) may share one Redis with the
// same options. Errors wrap ErrInvalidConfig: a nil client (also a nil
// *redis.Client), a nil or refused option, a client without context
// timeouts.
//
// The Store also implements middleware.ReplayCheck, the replay check of
// DPoP proofs shared by resource servers: assert it with
// store.(middleware.ReplayCheck) and set it as middleware.DPoP's Replay.
func New(rdb redis.UniversalClient, opts ...Option) (session.Store, error) {
	cfg := defaults()
	for i, o := range opts {
		if o == nil {
			return nil, configError("option %d is nil", i)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if nilcheck.IsNil(rdb) {
		return nil, configError("nil client (%T)", rdb)
	}
	if !contextTimeouts(rdb) {
		return nil, configError("the client must set ContextTimeoutEnabled: true, so that deadlines bound every call")
	}
	if cfg.ackReplicas != 0 {
		switch rdb.(type) {
		case *redis.Client, *redis.ClusterClient:
		default:
			return nil, configError("WithReplicaAck needs a *redis.Client or *redis.ClusterClient, not %T", rdb)
		}
	}
	return &store{rdb: rdb, cfg: cfg, sc: newScripts(cfg)}, nil
}

func contextTimeouts(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true // unknown implementation: its own business
}

// tagLen is the length of a slot tag in hex.
const tagLen = 8

// keys returns the family key of session sid and the index key of subject
// id, built in one allocation: they are on every rotation's path.
func (s *store) keys(id session.SubjectID, sid string) (fam, index string) {
	var h [2 * len(session.SubjectID{})]byte
	hex.Encode(h[:], id[:])
	var b strings.Builder
	b.Grow(2*(len(s.cfg.prefix)+tagLen+6) + len(sid) + len(h) - tagLen)
	b.WriteString(s.cfg.prefix)
	b.WriteByte('{')
	b.Write(h[:tagLen])
	b.WriteString("}:f:")
	b.WriteString(sid)
	n := b.Len()
	b.WriteString(s.cfg.prefix)
	b.WriteByte('{')
	b.Write(h[:tagLen])
	b.WriteString("}:s:")
	b.Write(h[tagLen:])
	all := b.String()
	return all[:n], all[n:]
}

// famPrefix is what the keys of the families of subject id start with.
func (s *store) famPrefix(id session.SubjectID) string {
	return s.cfg.prefix + "{" + hex.EncodeToString(id[:4]) + "}:f:"
}

// ctx bounds an operation without a deadline by the store's timeout.
func (s *store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.timeout)
}

// unavailable wraps any failure to get an answer from Redis: network,
// timeout, cancelled context, cluster down, out of memory, loading. None
// of them says anything about the token.
func unavailable(err error) error {
	return fmt.Errorf("%w: %w", session.ErrUnavailable, err)
}

// now is the "now" argument of every script: the test clock in Unix
// milliseconds, or serverClock.
func (s *store) now() any {
	if s.cfg.now == nil {
		return serverClock
	}
	return strconv.FormatInt(s.cfg.now().UnixMilli(), 10)
}

// Create implements session.Store: one script.
func (s *store) Create(ctx context.Context, t, child session.Token, ns session.NewSession, seal session.SealKey) (session.Result, error) {
	ns, err := ns.Validate()
	if err != nil {
		return session.Result{}, err
	}
	client, err := json.Marshal(ns.Client)
	if err != nil { // strings only: unreachable
		return session.Result{}, fmt.Errorf("%w: client info: %v", session.ErrInvalidInput, err)
	}
	sid := t.SessionID()
	fam, index := s.keys(t.Subject, sid)
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.write(ctx, s.sc.create, []string{fam, index}, s.now(), stateValue(nil, t),
		record(ns.Subject, ns.KeyThumbprint, ns.Claims), client, seal.Seal(fam, ns.Subject, ns.KeyThumbprint, ns.Claims),
		stateValue(nil, child)).Slice()
	if err != nil {
		return session.Result{}, unavailable(err)
	}
	var exp int64
	var ids []any
	if len(res) == 2 {
		exp, _ = res[0].(int64)
		ids, _ = res[1].([]any)
	}
	if exp == 0 {
		return session.Result{}, malformed("login reply", res)
	}
	r := session.Result{Expires: time.UnixMilli(exp)}
	for _, id := range ids {
		sid, ok := id.(string)
		if !ok {
			return session.Result{}, malformed("evicted session id", id)
		}
		r.Evicted = append(r.Evicted, sid)
	}
	return r, nil
}

// stateValue appends what a family stores of token t (fields c, p and n):
// the SHA-256 of its proof, then its generation and secret version in
// decimal, so that one string comparison in the script checks all three.
func stateValue(dst []byte, t session.Token) []byte {
	h := sha256.Sum256(t.Proof[:])
	dst = strconv.AppendUint(append(dst, h[:]...), t.Generation, 10)
	return strconv.AppendUint(append(dst, ':'), uint64(t.Version), 10)
}

// stateMax is the longest stateValue.
const stateMax = sha256.Size + 20 + 1 + 10

// Rotate implements session.Store: one script (EVALSHA).
func (s *store) Rotate(ctx context.Context, r session.Rotation) (session.Result, error) {
	// The three states, the key hash and the seal keys, in one allocation.
	buf := make([]byte, 0, 3*stateMax+len(r.KeyHash)+2*len(r.Seal[0]))
	buf = stateValue(buf, r.Presented)
	presented := buf
	buf = stateValue(buf, r.Child)
	next := buf[len(presented):]
	m := len(buf)
	buf = stateValue(buf, r.Grandchild)
	committed := buf[m:]
	n := len(buf)
	buf = append(buf, r.KeyHash[:]...)
	k0, k1 := sealArgs(buf[n+16:], r.Seal)
	fam, index := s.keys(r.Presented.Subject, r.Presented.SessionID())
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.write(ctx, s.sc.rotate, []string{fam, index}, s.now(), presented, next, buf[n:n+16], k0, k1, committed,
		r.KeyThumbprint).Result()
	if err != nil {
		return session.Result{}, unavailable(err)
	}
	r2, err := decodeOutcome(res)
	r2.Policy = s.cfg.policy
	return r2, err
}

// sealArgs appends the seal keys to buf (capacity for both) and returns
// them as script arguments: the second empty when it is the first.
func sealArgs(buf []byte, seal [2]session.SealKey) (k0, k1 []byte) {
	buf = append(buf, seal[0][:]...)
	if seal[1] == seal[0] {
		return buf, buf[:0]
	}
	buf = append(buf, seal[1][:]...)
	return buf[:len(seal[0])], buf[len(seal[0]):]
}

// Lookup implements session.Store: one read-only script.
func (s *store) Lookup(ctx context.Context, r session.Rotation) (session.Result, error) {
	fam, _ := s.keys(r.Presented.Subject, r.Presented.SessionID())
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	k0, k1 := sealArgs(make([]byte, 0, 2*len(r.Seal[0])), r.Seal)
	res, err := s.sc.lookup.Run(ctx, s.rdb, []string{fam}, s.now(), k0, k1, r.KeyThumbprint).Result()
	if err != nil {
		return session.Result{}, unavailable(err)
	}
	return decodeOutcome(res)
}

// Revoke implements session.Store: one script.
func (s *store) Revoke(ctx context.Context, id session.SubjectID, sessionID, subject string) (session.Result, error) {
	if len(sessionID) != session.SessionIDLen {
		return session.Result{}, fmt.Errorf("%w: malformed session id", session.ErrNotFound)
	}
	prefix := ""
	if subject != "" {
		prefix = recordPrefix(subject)
	}
	fam, index := s.keys(id, sessionID)
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.write(ctx, s.sc.revoke, []string{fam, index}, s.now(), prefix).Slice()
	if err != nil {
		return session.Result{}, unavailable(err)
	}
	if len(res) == 0 {
		return session.Result{}, session.ErrNotFound
	}
	sc, ok := res[0].(string)
	sub, _, _, ok2 := splitRecord(sc)
	if len(res) != 1 || !ok || !ok2 {
		return session.Result{}, malformed("revocation reply", res)
	}
	return session.Result{Subject: sub}, nil
}

// RevokeAll implements session.Store: one script.
func (s *store) RevokeAll(ctx context.Context, id session.SubjectID) (int, error) {
	_, index := s.keys(id, "")
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.write(ctx, revokeAllScript, []string{index}, s.now(), s.famPrefix(id)).Slice()
	if err != nil {
		return 0, unavailable(err)
	}
	if len(res) != 1 {
		return 0, malformed("revocation reply", res)
	}
	n, ok := res[0].(int64)
	if !ok {
		return 0, malformed("revocation count", res[0])
	}
	return int(n), nil
}

// Sessions implements session.Store: one read-only script.
func (s *store) Sessions(ctx context.Context, id session.SubjectID) ([]session.Info, error) {
	_, index := s.keys(id, "")
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := sessionsScript.Run(ctx, s.rdb, []string{index}, s.now(), s.famPrefix(id)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out, err := decodeSessions(res, nil)
	sort.Slice(out, func(i, j int) bool { return out[i].LastUsed.After(out[j].LastUsed) })
	return out, err
}

// Active implements session.Store: one read-only script, so that the
// deadline is compared with the clock that set it. The family key comes
// from the session id, whose first bytes are the subject's hash tag.
func (s *store) Active(ctx context.Context, sessionID, subject string) (time.Time, error) {
	fam, ok := s.famKey(sessionID)
	if !ok || subject == "" {
		return time.Time{}, nil
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	ms, err := activeScript.Run(ctx, s.rdb, []string{fam}, s.now(), recordPrefix(subject)).Int64()
	if err != nil {
		return time.Time{}, unavailable(err)
	}
	if ms <= 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(ms), nil
}

// famKey is the family key of sessionID, if it is well formed: base64url
// of 20 bytes, the first 4 the subject's hash tag.
func (s *store) famKey(sessionID string) (string, bool) {
	var raw [20]byte
	if len(sessionID) != session.SessionIDLen {
		return "", false
	}
	if n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(sessionID)); err != nil || n != len(raw) {
		return "", false
	}
	var h [tagLen]byte
	hex.Encode(h[:], raw[:4])
	return s.cfg.prefix + "{" + string(h[:]) + "}:f:" + sessionID, true
}

// LoadOrStore implements session.Store: one script, on a key of its own.
func (s *store) LoadOrStore(ctx context.Context, name string, value []byte) ([]byte, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	key := []string{s.cfg.prefix + "meta:" + name}
	var v string
	var err error
	if value == nil {
		v, err = loadOrStoreScript.Run(ctx, s.rdb, key, "").Text()
	} else {
		v, err = s.write(ctx, loadOrStoreScript, key, value).Text()
	}
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		return nil, unavailable(err)
	}
	return []byte(v), nil
}
