package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/redis/go-redis/v9"
)

// Store is the jwtrefresh.Store on Redis. Create it with New; it is safe for
// concurrent use, and any number of Stores (processes) may share one Redis
// as long as they share the keyring and options.
type Store struct {
	rdb  redis.UniversalClient
	keys *jwtrefresh.RefreshKeyring
	cfg  config
	sc   scripts
}

var _ jwtrefresh.Store = (*Store)(nil)

// serverClock is the "now" argument that makes a script read the Redis
// server's clock.
var serverClock any = ""

// New returns a Store keeping sessions in rdb, with tokens under keys.
//
// rdb may be a standalone, Sentinel (failover) or Cluster client, or any
// UniversalClient (Valkey works alike). Clients built by go-redis must set
// ContextTimeoutEnabled: true, so that context deadlines bound every call
// (ErrClientConfig otherwise). Errors: ErrKeyPrefix, ErrConfig (among
// others for a nil client, also a nil *redis.Client, a nil keyring and a
// nil option).
func New(rdb redis.UniversalClient, keys *jwtrefresh.RefreshKeyring, opts ...Option) (*Store, error) {
	cfg := defaults()
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: option %d is nil", ErrConfig, i)
		}
		o(&cfg)
	}
	switch {
	case nilClient(rdb):
		return nil, fmt.Errorf("%w: nil client (%T)", ErrConfig, rdb)
	case keys == nil, len(keys.SubjectIDs("")) == 0: // nil, or a zero RefreshKeyring{} without keys
		return nil, fmt.Errorf("%w: no refresh keys (build the keyring with jwtrefresh.NewRefreshKeyring)", ErrConfig)
	case strings.ContainsAny(cfg.prefix, "{}"):
		return nil, ErrKeyPrefix
	case cfg.grace < 0, cfg.idle < time.Millisecond, cfg.abs < 0, cfg.timeout <= 0:
		return nil, fmt.Errorf("%w: durations must be positive, the idle timeout at least 1ms (grace and absolute lifetime may be 0)", ErrConfig)
	case cfg.max < 1:
		return nil, fmt.Errorf("%w: max sessions %d < 1", ErrConfig, cfg.max)
	case cfg.policy != jwtrefresh.RevokeSubject && cfg.policy != jwtrefresh.RevokeFamily:
		return nil, fmt.Errorf("%w: unknown reuse policy %v", ErrConfig, cfg.policy)
	case cfg.clockSet && cfg.now == nil:
		return nil, fmt.Errorf("%w: nil clock", ErrConfig)
	}
	if !contextTimeouts(rdb) {
		return nil, ErrClientConfig
	}
	if cfg.ackReplicas != 0 {
		switch rdb.(type) {
		case *redis.Client, *redis.ClusterClient:
		default:
			return nil, fmt.Errorf("%w: WithReplicaAck needs a *redis.Client or *redis.ClusterClient, not %T", ErrConfig, rdb)
		}
		if cfg.ackReplicas < 0 || cfg.ackTimeout <= 0 {
			return nil, fmt.Errorf("%w: WithReplicaAck(%d, %v)", ErrConfig, cfg.ackReplicas, cfg.ackTimeout)
		}
	}
	return &Store{rdb: rdb, keys: keys, cfg: cfg, sc: newScripts(cfg)}, nil
}

// nilClient reports whether rdb is nil or a nil pointer of a client type,
// which is not == nil inside the interface and would panic at first use.
func nilClient(rdb redis.UniversalClient) bool {
	if rdb == nil {
		return true
	}
	rv := reflect.ValueOf(rdb)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
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

// Key layout: <prefix>{<tag>}:f:<sid> per family, <prefix>{<tag>}:s:<rest
// of the subject id> per subject index. The tag in braces puts a subject's
// keys in one Cluster slot; the full subject id keeps subjects that share a
// tag apart.
func (s *Store) famPrefix(tag jwtrefresh.SlotTag) string {
	return s.cfg.prefix + "{" + tag.String() + "}:f:"
}

func (s *Store) indexKey(id jwtrefresh.SubjectID) string {
	return s.cfg.prefix + "{" + id.SlotTag().String() + "}:s:" + hex.EncodeToString(id[len(jwtrefresh.SlotTag{}):])
}

// familyKeys returns the family key of session sid, the index key of subject
// id, and sid, built in one allocation: they are on every rotation's path.
func (s *Store) familyKeys(id jwtrefresh.SubjectID, sid []byte) (fam, index, sidStr string) {
	const tagLen = 2 * len(jwtrefresh.SlotTag{})
	var h [2 * len(jwtrefresh.SubjectID{})]byte
	hex.Encode(h[:], id[:])
	var b strings.Builder
	b.Grow(2*(len(s.cfg.prefix)+tagLen+6) + len(sid) + len(h) - tagLen)
	b.WriteString(s.cfg.prefix)
	b.WriteByte('{')
	b.Write(h[:tagLen])
	b.WriteString("}:f:")
	b.Write(sid)
	n := b.Len()
	b.WriteString(s.cfg.prefix)
	b.WriteByte('{')
	b.Write(h[:tagLen])
	b.WriteString("}:s:")
	b.Write(h[tagLen:])
	all := b.String()
	return all[:n], all[n:], all[n-len(sid) : n]
}

// ctx bounds an operation without a deadline by the store's timeout.
func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.timeout)
}

// unavailable wraps any failure to get an answer from Redis: network, timeout,
// cancelled context, cluster down, out of memory, loading. None of them says
// anything about the token.
func unavailable(err error) error {
	return fmt.Errorf("%w: %w", jwtrefresh.ErrUnavailable, err)
}

// now is the "now" argument of every script: the WithClock time in Unix
// milliseconds, or serverClock.
func (s *Store) now() any {
	if s.cfg.now == nil {
		return serverClock
	}
	return strconv.FormatInt(s.cfg.now().UnixMilli(), 10)
}

func fromMS(v int64) time.Time { return time.UnixMilli(v) }

// Create implements jwtrefresh.Store: one script.
func (s *Store) Create(ctx context.Context, ns jwtrefresh.NewSession) (jwtrefresh.Grant, error) {
	ns, err := ns.Validate()
	if err != nil {
		return jwtrefresh.Grant{}, err
	}
	client, err := json.Marshal(ns.Client)
	if err != nil {
		return jwtrefresh.Grant{}, fmt.Errorf("%w: client info: %v", jwtrefresh.ErrInvalidInput, err)
	}
	tok := s.keys.NewFamily(ns.Subject)
	enc, err := s.keys.Encode(tok)
	if err != nil {
		return jwtrefresh.Grant{}, err
	}
	var sidBuf [jwtrefresh.SessionIDLen]byte
	fam, index, sid := s.familyKeys(tok.Subject, tok.AppendSessionID(sidBuf[:0]))
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.write(ctx, s.sc.create, []string{fam, index},
		s.now(), ns.Subject, stateValue(nil, tok), subjectClaims(ns.Subject, ns.Claims), client).Slice()
	if err != nil {
		return jwtrefresh.Grant{}, unavailable(err)
	}
	if len(res) != 3 {
		return jwtrefresh.Grant{}, unavailable(fmt.Errorf("unexpected login reply (%d elements)", len(res)))
	}
	now := fromMS(num(res[0]))
	var evicted []string
	if ids, _ := res[2].([]any); len(ids) > 0 {
		evicted = make([]string, len(ids))
		for i, id := range ids {
			evicted[i] = str(id)
			s.emit(ctx, jwtrefresh.Event{Kind: jwtrefresh.EventEvict, Subject: ns.Subject, SessionID: evicted[i], Revoked: 1, Time: now})
		}
	}
	s.emit(ctx, jwtrefresh.Event{Kind: jwtrefresh.EventLogin, Subject: ns.Subject, SessionID: sid, Generation: 1, Time: now})
	return jwtrefresh.Grant{
		RefreshToken: enc,
		Subject:      ns.Subject,
		SessionID:    sid,
		Generation:   1,
		Claims:       ns.Claims,
		Expires:      fromMS(num(res[1])),
		Evicted:      evicted,
	}, nil
}

// stateValue appends what a family stores of token t (fields c and p): the
// SHA-256 of its secret, then its generation and key version in decimal, so
// that one string comparison in the script checks all three.
func stateValue(dst []byte, t jwtrefresh.RefreshToken) []byte {
	h := t.SecretHash()
	dst = strconv.AppendUint(append(dst, h[:]...), t.Generation, 10)
	return strconv.AppendUint(append(dst, ':'), uint64(t.KeyVersion), 10)
}

// stateMax is the longest stateValue.
const stateMax = sha256.Size + 20 + 1 + 10

// subjectClaims is field sc: the subject's length in decimal, a colon, the
// subject and the claims, read back in one piece by every rotation.
func subjectClaims(subject string, claims []byte) []byte {
	b := strconv.AppendInt(make([]byte, 0, 21+len(subject)+len(claims)), int64(len(subject)), 10)
	return append(append(append(b, ':'), subject...), claims...)
}

// splitSubjectClaims undoes subjectClaims; ok is false for anything else.
func splitSubjectClaims(sc string) (subject, claims string, ok bool) {
	n, rest, found := strings.Cut(sc, ":")
	l, err := strconv.Atoi(n)
	if !found || err != nil || l < 0 || l > len(rest) {
		return "", "", false
	}
	return rest[:l], rest[l:], true
}

// ikLen is the length of a hashed idempotency key.
const ikLen = 16

// appendIdempotencyHash appends what the family stores of a rotation's
// idempotency key: a hash, so the key itself is never at rest. Without a
// caller's key the rotation gets a random one, which still makes the client
// library's own re-send of this very command a replay.
func appendIdempotencyHash(dst []byte, key string) []byte {
	if key == "" {
		var b [ikLen]byte
		_, _ = rand.Read(b[:])
		return append(dst, b[:]...)
	}
	const domain = "jwtrefresh/idempotency-key\x00"
	var buf [len(domain) + jwtrefresh.MaxIdempotencyKeyLen + 2]byte // on the stack: no allocation per rotation
	in := append(append(buf[:0], domain...), key...)
	h := sha256.Sum256(in)
	return append(dst, h[:ikLen]...)
}

// Rotate implements jwtrefresh.Store: one script (EVALSHA). A key that
// jwtrefresh.CheckIdempotencyKey refuses is jwtrefresh.ErrInvalidInput,
// before any I/O.
func (s *Store) Rotate(ctx context.Context, refreshToken, idempotencyKey string) (jwtrefresh.Grant, error) {
	if err := jwtrefresh.CheckIdempotencyKey(idempotencyKey); err != nil {
		return jwtrefresh.Grant{}, err
	}
	parent, err := s.keys.Parse(refreshToken)
	if err != nil {
		return jwtrefresh.Grant{}, err
	}
	kv := s.keys.CurrentVersion()
	child, _ := s.keys.Child(parent, kv)
	// The presented token's state, its child's and the idempotency hash, in
	// one allocation.
	buf := make([]byte, 0, 2*stateMax+ikLen)
	buf = stateValue(buf, parent)
	presented := buf
	buf = stateValue(buf, child)
	next := buf[len(presented):]
	ik := appendIdempotencyHash(buf, idempotencyKey)[len(buf):]
	var sidBuf [jwtrefresh.SessionIDLen]byte
	fam, index, sid := s.familyKeys(parent.Subject, parent.AppendSessionID(sidBuf[:0]))
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.write(ctx, s.sc.rotate, []string{fam, index}, s.now(), presented, next, ik).Slice()
	if err != nil {
		return jwtrefresh.Grant{}, unavailable(err)
	}
	var out int64 = -1
	if len(res) > 0 {
		out, _ = res[0].(int64)
	}
	if out < 0 || out >= int64(len(replyLen)) || len(res) != replyLen[out] {
		// Not this version's script (a key prefix shared with an
		// incompatible deployment?): the outcome is unknown.
		return jwtrefresh.Grant{}, unavailable(fmt.Errorf("unexpected rotation reply (%d elements)", len(res)))
	}
	switch out {
	case outRotated, outReplay:
		sub, claims, ok := splitSubjectClaims(str(res[3]))
		if !ok {
			return jwtrefresh.Grant{}, unavailable(errors.New("malformed session record"))
		}
		g := jwtrefresh.Grant{
			Subject:    sub,
			SessionID:  sid,
			Generation: child.Generation,
			Replayed:   out == outReplay,
			Expires:    fromMS(num(res[2])),
		}
		if claims != "" {
			g.Claims = json.RawMessage(claims)
		}
		if out == outReplay && uint32(num(res[4])) != kv {
			// The child was made under another key version (keys rotated
			// since): recompute it under that one, byte-identical.
			if child, ok = s.keys.Child(parent, uint32(num(res[4]))); !ok {
				return jwtrefresh.Grant{}, fmt.Errorf("%w: its successor's key version was retired", jwtrefresh.ErrInvalidToken)
			}
		}
		if g.RefreshToken, err = s.keys.Encode(child); err != nil {
			return jwtrefresh.Grant{}, err
		}
		kind := jwtrefresh.EventRotate
		if g.Replayed {
			kind = jwtrefresh.EventReplay
		}
		s.emit(ctx, jwtrefresh.Event{Kind: kind, Subject: g.Subject, SessionID: sid, Generation: g.Generation, Time: fromMS(num(res[1]))})
		return g, nil
	case outReuse:
		re := &jwtrefresh.ReuseError{Subject: str(res[2]), SessionID: sid, Policy: s.cfg.policy, Revoked: int(num(res[3]))}
		if s.cfg.policy == jwtrefresh.RevokeSubject {
			// Sessions begun under another key of the ring have another
			// subject id: revoke them too.
			for _, id := range s.keys.SubjectIDs(re.Subject) {
				if id != parent.Subject {
					m, _, e := s.revokeSubject(ctx, id)
					re.Revoked += m
					re.Err = errors.Join(re.Err, e)
				}
			}
		}
		s.emit(ctx, jwtrefresh.Event{Kind: jwtrefresh.EventReuseDetected, Subject: re.Subject, SessionID: sid, Generation: parent.Generation, Revoked: re.Revoked, Time: fromMS(num(res[1]))})
		return jwtrefresh.Grant{}, re
	}
	return jwtrefresh.Grant{}, fmt.Errorf("%w: unknown, expired or revoked", jwtrefresh.ErrInvalidToken)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

// Lookup implements jwtrefresh.Store: one read-only script.
func (s *Store) Lookup(ctx context.Context, refreshToken string) (jwtrefresh.SessionRef, json.RawMessage, error) {
	t, err := s.keys.Parse(refreshToken)
	if err != nil {
		return jwtrefresh.SessionRef{}, nil, err
	}
	var sidBuf [jwtrefresh.SessionIDLen]byte
	fam, _, sid := s.familyKeys(t.Subject, t.AppendSessionID(sidBuf[:0]))
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	sc, err := lookupScript.Run(ctx, s.rdb, []string{fam}, s.now()).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return jwtrefresh.SessionRef{}, nil, fmt.Errorf("%w: unknown, expired or revoked", jwtrefresh.ErrInvalidToken)
	case err != nil:
		return jwtrefresh.SessionRef{}, nil, unavailable(err)
	}
	sub, claims, ok := splitSubjectClaims(sc)
	if !ok {
		return jwtrefresh.SessionRef{}, nil, unavailable(errors.New("malformed session record"))
	}
	ref := jwtrefresh.SessionRef{Subject: sub, SessionID: sid}
	if claims == "" {
		return ref, nil, nil
	}
	return ref, json.RawMessage(claims), nil
}

// RevokeToken implements jwtrefresh.Store: one script.
func (s *Store) RevokeToken(ctx context.Context, refreshToken string) (jwtrefresh.SessionRef, error) {
	t, err := s.keys.Parse(refreshToken)
	if err != nil {
		return jwtrefresh.SessionRef{}, err
	}
	var sidBuf [jwtrefresh.SessionIDLen]byte
	sub, sid, err := s.revoke(ctx, t.Subject, t.AppendSessionID(sidBuf[:0]), "")
	if errors.Is(err, jwtrefresh.ErrSessionNotFound) {
		// RFC 7009: revoking an unknown token succeeds. The token names
		// its session all the same.
		return jwtrefresh.SessionRef{SessionID: sid}, nil
	}
	if err != nil {
		return jwtrefresh.SessionRef{}, err
	}
	return jwtrefresh.SessionRef{Subject: sub, SessionID: sid}, nil
}

// RevokeSession implements jwtrefresh.Store: one script.
func (s *Store) RevokeSession(ctx context.Context, subject, sessionID string) error {
	if subject == "" {
		return fmt.Errorf("%w: empty subject", jwtrefresh.ErrInvalidInput)
	}
	tag, _, err := jwtrefresh.ParseSessionID(sessionID)
	if err != nil {
		return err
	}
	// The session lives under the subject id whose tag it carries.
	for _, id := range s.keys.SubjectIDs(subject) {
		if id.SlotTag() == tag {
			_, _, err = s.revoke(ctx, id, []byte(sessionID), subject)
			return err
		}
	}
	return fmt.Errorf("%w: not a session of this subject", jwtrefresh.ErrSessionNotFound)
}

// revoke deletes the family sidBytes of subject id id, if it belongs to
// subject ("" for any), and returns its subject and the session id.
func (s *Store) revoke(ctx context.Context, id jwtrefresh.SubjectID, sidBytes []byte, subject string) (sub, sid string, err error) {
	fam, index, sid := s.familyKeys(id, sidBytes)
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.write(ctx, revokeScript, []string{fam, index}, s.now(), subject).Slice()
	if errors.Is(err, redis.Nil) {
		return "", sid, jwtrefresh.ErrSessionNotFound
	}
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected revocation reply (%d elements)", len(res))
	}
	if err != nil {
		return "", sid, unavailable(err)
	}
	sub = str(res[0])
	s.emit(ctx, jwtrefresh.Event{Kind: jwtrefresh.EventRevoke, Subject: sub, SessionID: sid, Revoked: 1, Time: fromMS(num(res[1]))})
	return sub, sid, nil
}

// RevokeAll implements jwtrefresh.Store: one script per key of the ring
// (one, outside a key rotation).
func (s *Store) RevokeAll(ctx context.Context, subject string) (int, error) {
	if subject == "" {
		return 0, fmt.Errorf("%w: empty subject", jwtrefresh.ErrInvalidInput)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	total := 0
	var at time.Time
	for i, id := range s.keys.SubjectIDs(subject) {
		n, now, err := s.revokeSubject(ctx, id)
		total += n
		if err != nil {
			return total, err
		}
		if i == 0 {
			at = now
		}
	}
	s.emit(ctx, jwtrefresh.Event{Kind: jwtrefresh.EventRevokeAll, Subject: subject, Revoked: total, Time: at})
	return total, nil
}

// revokeSubject deletes every session under one subject id; it returns how
// many were active and the time the script decided at.
func (s *Store) revokeSubject(ctx context.Context, id jwtrefresh.SubjectID) (int, time.Time, error) {
	res, err := s.write(ctx, revokeAllScript, []string{s.indexKey(id)}, s.now(), s.famPrefix(id.SlotTag())).Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected revocation reply (%d elements)", len(res))
	}
	if err != nil {
		return 0, time.Time{}, unavailable(err)
	}
	return int(num(res[0])), fromMS(num(res[1])), nil
}

// Sessions implements jwtrefresh.Store: one read-only script per key of the
// ring.
func (s *Store) Sessions(ctx context.Context, subject string) ([]jwtrefresh.Session, error) {
	if subject == "" {
		return nil, fmt.Errorf("%w: empty subject", jwtrefresh.ErrInvalidInput)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var out []jwtrefresh.Session
	for _, id := range s.keys.SubjectIDs(subject) {
		rows, err := sessionsScript.Run(ctx, s.rdb, []string{s.indexKey(id)}, s.now(), s.famPrefix(id.SlotTag())).Slice()
		if err != nil {
			return nil, unavailable(err)
		}
		for _, r := range rows {
			f, _ := r.([]any)
			if len(f) != 6 {
				continue
			}
			se := jwtrefresh.Session{
				ID:         str(f[0]),
				Created:    fromMS(num(f[1])),
				LastUsed:   fromMS(num(f[2])),
				Expires:    fromMS(num(f[3])),
				Generation: uint64(num(f[4])),
			}
			_ = json.Unmarshal([]byte(str(f[5])), &se.Client) // written by Create
			out = append(out, se)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastUsed.After(out[j].LastUsed) })
	return out, nil
}

// Active implements jwtrefresh.Store: one read-only script, so that the
// deadline is compared with the same clock that set it.
func (s *Store) Active(ctx context.Context, subject, sessionID string) (bool, error) {
	tag, _, err := jwtrefresh.ParseSessionID(sessionID)
	if err != nil || subject == "" {
		return false, nil
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := activeScript.Run(ctx, s.rdb, []string{s.famPrefix(tag) + sessionID}, s.now(), subject).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

func (s *Store) emit(ctx context.Context, e jwtrefresh.Event) {
	if s.cfg.hook != nil {
		s.cfg.hook(ctx, e)
	}
	// Enabled first: the message and the boxed event cost two allocations
	// per rotation, which a logger that drops the level should not pay.
	if l := s.cfg.log; l != nil && l.Enabled(ctx, e.Kind.Level()) {
		l.LogAttrs(ctx, e.Kind.Level(), "session "+e.Kind.String(), slog.Any("event", e))
	}
}
