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
}

var _ jwtrefresh.Store = (*Store)(nil)

// New returns a Store keeping sessions in rdb, with tokens under keys.
//
// rdb may be a standalone, Sentinel (failover) or Cluster client, or any
// UniversalClient (Valkey works alike). Clients built by go-redis must set
// ContextTimeoutEnabled: true, so that context deadlines bound every call
// (ErrClientConfig otherwise). Errors: ErrKeyPrefix, ErrConfig.
func New(rdb redis.UniversalClient, keys *jwtrefresh.RefreshKeyring, opts ...Option) (*Store, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case rdb == nil:
		return nil, fmt.Errorf("%w: nil client", ErrConfig)
	case keys == nil:
		return nil, fmt.Errorf("%w: nil keyring", ErrConfig)
	case strings.ContainsAny(cfg.prefix, "{}"):
		return nil, ErrKeyPrefix
	case cfg.grace < 0, cfg.idle <= 0, cfg.abs < 0, cfg.timeout <= 0:
		return nil, fmt.Errorf("%w: durations must be positive (grace and absolute lifetime may be 0)", ErrConfig)
	case cfg.max < 1:
		return nil, fmt.Errorf("%w: max sessions %d < 1", ErrConfig, cfg.max)
	case cfg.policy != jwtrefresh.RevokeSubject && cfg.policy != jwtrefresh.RevokeFamily:
		return nil, fmt.Errorf("%w: unknown reuse policy %v", ErrConfig, cfg.policy)
	case cfg.now == nil:
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
	return &Store{rdb: rdb, keys: keys, cfg: cfg}, nil
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

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v) }

func durMS(d time.Duration) int64 { return d.Milliseconds() }

// slack is how long Redis keeps keys beyond their deadline, so that TTLs need
// extending only now and then (see scripts.go).
func (s *Store) slack() int64 { return durMS(s.cfg.idle / 10) }

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
	now := s.cfg.now()
	exp := now.Add(s.cfg.idle)
	var abs int64
	if s.cfg.abs > 0 {
		abs = ms(now.Add(s.cfg.abs))
		if abs < ms(exp) {
			exp = fromMS(abs)
		}
	}
	sid := tok.SessionID()
	hash := tok.SecretHash()
	fp := s.famPrefix(tok.Subject.SlotTag())
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	evicted, err := s.write(ctx, createScript, []string{fp + sid, s.indexKey(tok.Subject)},
		ms(now), ns.Subject, hash[:], tok.KeyVersion, ms(exp), abs,
		[]byte(ns.Claims), client, s.cfg.max, fp, sid, s.slack()).StringSlice()
	if err != nil {
		return jwtrefresh.Grant{}, unavailable(err)
	}
	for _, id := range evicted {
		s.emit(ctx, jwtrefresh.Event{Kind: jwtrefresh.EventEvict, Subject: ns.Subject, SessionID: id, Revoked: 1, Time: now})
	}
	s.emit(ctx, jwtrefresh.Event{Kind: jwtrefresh.EventLogin, Subject: ns.Subject, SessionID: sid, Generation: 1, Time: now})
	return jwtrefresh.Grant{
		RefreshToken: enc,
		Subject:      ns.Subject,
		SessionID:    sid,
		Generation:   1,
		Claims:       ns.Claims,
		Expires:      fromMS(ms(exp)),
	}, nil
}

// idempotencyHash is what the family stores of a rotation's idempotency key:
// a hash, so the key itself is never at rest. Without a caller's key the
// rotation gets a random one, which still makes the client library's own
// re-send of this very command a replay.
func idempotencyHash(key string) []byte {
	if key == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		return b
	}
	h := sha256.Sum256([]byte("jwtrefresh/idempotency-key\x00" + key))
	return h[:16]
}

// Rotate implements jwtrefresh.Store: one script (EVALSHA).
func (s *Store) Rotate(ctx context.Context, refreshToken, idempotencyKey string) (jwtrefresh.Grant, error) {
	parent, err := s.keys.Parse(refreshToken)
	if err != nil {
		return jwtrefresh.Grant{}, err
	}
	kv := s.keys.CurrentVersion()
	child, _ := s.keys.Child(parent, kv)
	ph, ch := parent.SecretHash(), child.SecretHash()
	sid := parent.SessionID()
	fp := s.famPrefix(parent.Subject.SlotTag())
	policy := "s"
	if s.cfg.policy == jwtrefresh.RevokeFamily {
		policy = "f"
	}
	now := s.cfg.now()
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	res, err := s.write(ctx, rotateScript, []string{fp + sid, s.indexKey(parent.Subject)},
		ms(now), parent.Generation, ph[:], ch[:], idempotencyHash(idempotencyKey),
		ms(now.Add(s.cfg.idle)), durMS(s.cfg.grace), policy, kv, fp, sid, s.slack()).Slice()
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
		g := jwtrefresh.Grant{
			Subject:    str(res[1]),
			SessionID:  sid,
			Generation: child.Generation,
			Replayed:   out == outReplay,
			Expires:    fromMS(num(res[3])),
		}
		if c := str(res[2]); c != "" {
			g.Claims = json.RawMessage(c)
		}
		if out == outReplay && uint32(num(res[4])) != kv {
			// The child was made under another key version (keys rotated
			// since): recompute it under that one, byte-identical.
			var ok bool
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
		s.emit(ctx, jwtrefresh.Event{Kind: kind, Subject: g.Subject, SessionID: sid, Generation: g.Generation, Time: now})
		return g, nil
	case outReuse:
		sub := str(res[1])
		revoked, _ := res[2].([]any)
		n := len(revoked)
		var err error
		if s.cfg.policy == jwtrefresh.RevokeSubject {
			// Sessions begun under another key of the ring have another
			// subject id: revoke them too.
			for _, id := range s.keys.SubjectIDs(sub) {
				if id != parent.Subject {
					m, e := s.revokeSubject(ctx, id, now)
					n += m
					err = errors.Join(err, e)
				}
			}
		}
		s.emit(ctx, jwtrefresh.Event{Kind: jwtrefresh.EventReuseDetected, Subject: sub, SessionID: sid, Generation: parent.Generation, Revoked: n, Time: now})
		if err != nil {
			return jwtrefresh.Grant{}, fmt.Errorf("%w (revoking the subject's other sessions failed: %w)", jwtrefresh.ErrReuseDetected, err)
		}
		return jwtrefresh.Grant{}, jwtrefresh.ErrReuseDetected
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

// RevokeToken implements jwtrefresh.Store: one script.
func (s *Store) RevokeToken(ctx context.Context, refreshToken string) error {
	t, err := s.keys.Parse(refreshToken)
	if err != nil {
		return err
	}
	_, err = s.revoke(ctx, t.Subject, t.SessionID(), "")
	if errors.Is(err, jwtrefresh.ErrSessionNotFound) {
		return nil // RFC 7009: revoking an unknown token succeeds
	}
	return err
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
			_, err = s.revoke(ctx, id, sessionID, subject)
			return err
		}
	}
	return fmt.Errorf("%w: not a session of this subject", jwtrefresh.ErrSessionNotFound)
}

func (s *Store) revoke(ctx context.Context, id jwtrefresh.SubjectID, sid, subject string) (string, error) {
	now := s.cfg.now()
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	sub, err := s.write(ctx, revokeScript, []string{s.famPrefix(id.SlotTag()) + sid, s.indexKey(id)},
		sid, subject, ms(now)).Text()
	if errors.Is(err, redis.Nil) {
		return "", jwtrefresh.ErrSessionNotFound
	}
	if err != nil {
		return "", unavailable(err)
	}
	s.emit(ctx, jwtrefresh.Event{Kind: jwtrefresh.EventRevoke, Subject: sub, SessionID: sid, Revoked: 1, Time: now})
	return sub, nil
}

// RevokeAll implements jwtrefresh.Store: one script per key of the ring
// (one, outside a key rotation).
func (s *Store) RevokeAll(ctx context.Context, subject string) (int, error) {
	if subject == "" {
		return 0, fmt.Errorf("%w: empty subject", jwtrefresh.ErrInvalidInput)
	}
	now := s.cfg.now()
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	total := 0
	for _, id := range s.keys.SubjectIDs(subject) {
		n, err := s.revokeSubject(ctx, id, now)
		total += n
		if err != nil {
			return total, err
		}
	}
	s.emit(ctx, jwtrefresh.Event{Kind: jwtrefresh.EventRevokeAll, Subject: subject, Revoked: total, Time: now})
	return total, nil
}

func (s *Store) revokeSubject(ctx context.Context, id jwtrefresh.SubjectID, now time.Time) (int, error) {
	n, err := s.write(ctx, revokeAllScript, []string{s.indexKey(id)}, s.famPrefix(id.SlotTag()), ms(now)).Int()
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

// Sessions implements jwtrefresh.Store: one read-only script per key of the
// ring.
func (s *Store) Sessions(ctx context.Context, subject string) ([]jwtrefresh.Session, error) {
	if subject == "" {
		return nil, fmt.Errorf("%w: empty subject", jwtrefresh.ErrInvalidInput)
	}
	now := s.cfg.now()
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var out []jwtrefresh.Session
	for _, id := range s.keys.SubjectIDs(subject) {
		rows, err := sessionsScript.Run(ctx, s.rdb, []string{s.indexKey(id)}, s.famPrefix(id.SlotTag()), ms(now)).Slice()
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

// Active implements jwtrefresh.Store: one HMGET, no script.
func (s *Store) Active(ctx context.Context, subject, sessionID string) (bool, error) {
	tag, _, err := jwtrefresh.ParseSessionID(sessionID)
	if err != nil || subject == "" {
		return false, nil
	}
	now := s.cfg.now()
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	f, err := s.rdb.HMGet(ctx, s.famPrefix(tag)+sessionID, "sub", "exp").Result()
	if err != nil {
		return false, unavailable(err)
	}
	return str(f[0]) == subject && num(f[1]) > ms(now), nil
}

func (s *Store) emit(ctx context.Context, e jwtrefresh.Event) {
	if s.cfg.hook != nil {
		s.cfg.hook(ctx, e)
	}
	if s.cfg.log != nil {
		s.cfg.log.LogAttrs(ctx, e.Kind.Level(), "session "+e.Kind.String(), slog.Any("event", e))
	}
}
