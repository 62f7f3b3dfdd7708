package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

// NewMemoryStore returns a session.Store that keeps sessions in memory,
// for tests and examples: it keeps every rule of the contract (Run checks
// it) and pushes ends (it is a session.Watcher), but nothing survives the
// process, and instances do not share it.
// Zero fields of cfg mean the defaults: strict reuse, RevokeSubject,
// 30-day idle timeout, no absolute lifetime, 100 sessions per subject,
// time.Now.
func NewMemoryStore(cfg Config) session.Store {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * 24 * time.Hour
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 100
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &memory{cfg: cfg, families: map[string]*family{},
		index: map[session.SubjectID]map[string]bool{}, meta: map[string][]byte{},
		watches: map[*watch]struct{}{}}
}

var _ session.Watcher = (*memory)(nil)

type memory struct {
	cfg      Config
	mu       sync.Mutex
	families map[string]*family                    // by session id; guarded by mu
	index    map[session.SubjectID]map[string]bool // session ids per subject; guarded by mu
	meta     map[string][]byte                     // guarded by mu
	watches  map[*watch]struct{}                   // guarded by mu
}

// state is what a family keeps of a token: the hash of its proof, its
// generation and secret version.
type state struct {
	hash    [32]byte
	gen     uint64
	version uint32
}

func stateOf(t session.Token) state { return state{sha256.Sum256(t.Proof[:]), t.Generation, t.Version} }

type family struct {
	id            session.SubjectID
	subject       string
	claims        []byte
	jkt           string // the DPoP key thumbprint of a bound session
	client        session.ClientInfo
	cur, prev     state
	next          state    // the commitment to cur's child (Healed)
	keyHash       [16]byte // of the rotation that made cur
	rotated       bool     // cur was made by a rotation (keyHash is set)
	created, used time.Time
	idle          time.Duration // in force since used
	absolute      time.Time     // zero: none
	seal          string
}

func (f *family) deadline() time.Time {
	d := f.used.Add(f.idle)
	if !f.absolute.IsZero() && f.absolute.Before(d) {
		return f.absolute
	}
	return d
}

// begin takes the lock unless ctx has ended: a cancelled caller gets
// ErrUnavailable, as from a store it could not reach.
func (m *memory) begin(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", session.ErrUnavailable, err)
	}
	m.mu.Lock()
	return m.cfg.Clock().Truncate(time.Millisecond), nil
}

// live returns the active family sid, dropping it when it has expired.
func (m *memory) live(sid string, now time.Time) *family {
	f := m.families[sid]
	if f != nil && !now.Before(f.deadline()) {
		m.drop(sid)
		return nil
	}
	return f
}

func (m *memory) drop(sid string) {
	if f := m.families[sid]; f != nil {
		delete(m.index[f.id], sid)
		delete(m.families, sid)
	}
}

func (m *memory) Create(ctx context.Context, t, child session.Token, ns session.NewSession, seal session.SealKey) (session.Result, error) {
	ns, err := ns.Validate()
	if err != nil {
		return session.Result{}, err
	}
	now, err := m.begin(ctx)
	if err != nil {
		return session.Result{}, err
	}
	defer m.mu.Unlock()
	sid := t.SessionID()
	f := &family{id: t.Subject, subject: ns.Subject, claims: ns.Claims, jkt: ns.KeyThumbprint, client: ns.Client,
		cur: stateOf(t), next: stateOf(child), created: now, used: now, idle: m.cfg.IdleTimeout,
		seal: seal.Seal(sid, ns.Subject, ns.KeyThumbprint, ns.Claims)}
	if m.cfg.AbsoluteLifetime > 0 {
		f.absolute = now.Add(m.cfg.AbsoluteLifetime)
	}
	r := session.Result{Expires: f.deadline(), Evicted: m.makeRoom(t.Subject, now)}
	m.notify(r.Evicted...)
	m.families[sid] = f
	if m.index[t.Subject] == nil {
		m.index[t.Subject] = map[string]bool{}
	}
	m.index[t.Subject][sid] = true
	return r, nil
}

// makeRoom drops the subject's expired sessions, then evicts those closest
// to expiry (ties by id) until one more fits under the cap.
func (m *memory) makeRoom(id session.SubjectID, now time.Time) []string {
	var sids []string
	for sid := range m.index[id] {
		if m.live(sid, now) != nil {
			sids = append(sids, sid)
		}
	}
	slices.SortFunc(sids, func(a, b string) int {
		if c := m.families[a].deadline().Compare(m.families[b].deadline()); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	var evicted []string
	for len(sids) >= m.cfg.MaxSessions {
		m.drop(sids[0])
		evicted, sids = append(evicted, sids[0]), sids[1:]
	}
	return evicted
}

// checked returns the active family of r.Presented with its seal verified
// (reseal: by the presented token's key only), or the outcome refusing it.
func (m *memory) checked(r session.Rotation, now time.Time) (f *family, reseal bool, out session.Outcome) {
	sid := r.Presented.SessionID()
	if f = m.live(sid, now); f == nil || f.id != r.Presented.Subject {
		return nil, false, session.Invalid
	}
	switch f.seal {
	case r.Seal[0].Seal(sid, f.subject, f.jkt, f.claims):
	case r.Seal[1].Seal(sid, f.subject, f.jkt, f.claims):
		reseal = true
	default:
		return nil, false, session.Tampered
	}
	if f.jkt != "" && f.jkt != r.KeyThumbprint {
		return nil, false, session.WrongProofKey // before replay, grace and reuse
	}
	return f, reseal, session.Found
}

func (m *memory) Rotate(ctx context.Context, r session.Rotation) (session.Result, error) {
	now, err := m.begin(ctx)
	if err != nil {
		return session.Result{}, err
	}
	defer m.mu.Unlock()
	f, reseal, out := m.checked(r, now)
	if f == nil {
		return session.Result{Outcome: out}, nil
	}
	res := session.Result{Subject: f.subject, Claims: f.claims, KeyThumbprint: f.jkt}
	p, g, heal := r.Presented.Generation, f.cur.gen, stateOf(r.Presented) == f.next
	switch {
	case stateOf(r.Presented) == f.cur || heal:
		if f.rotated && f.keyHash == r.KeyHash {
			return session.Result{Outcome: session.KeyRepeated}, nil
		}
		f.prev, f.cur, f.next = stateOf(r.Presented), stateOf(r.Child), stateOf(r.Grandchild)
		f.keyHash, f.rotated, f.used, f.idle = r.KeyHash, true, now, m.cfg.IdleTimeout
		if reseal {
			f.seal = r.Seal[0].Seal(r.Presented.SessionID(), f.subject, f.jkt, f.claims)
		}
		res.Outcome, res.Expires = map[bool]session.Outcome{false: session.Rotated, true: session.Healed}[heal], f.deadline()
	case p >= g, p == g-1 && stateOf(r.Presented) != f.prev:
		return session.Result{Outcome: session.Invalid}, nil
	case p == g-1 && (f.keyHash == r.KeyHash || now.Sub(f.used) < m.cfg.ReuseGrace):
		res.Outcome, res.Expires, res.Version = session.Replayed, f.deadline(), f.cur.version
	default:
		res.Outcome, res.Claims, res.Ended, res.Policy = session.Reused, nil, m.revoke(f, r.Presented.SessionID(), now), m.cfg.ReusePolicy
	}
	return res, nil
}

func (m *memory) Lookup(ctx context.Context, r session.Rotation) (session.Result, error) {
	now, err := m.begin(ctx)
	if err != nil {
		return session.Result{}, err
	}
	defer m.mu.Unlock()
	f, _, out := m.checked(r, now)
	if f == nil {
		return session.Result{Outcome: out}, nil
	}
	return session.Result{Outcome: session.Found, Subject: f.subject, Claims: f.claims, KeyThumbprint: f.jkt}, nil
}

func (m *memory) Revoke(ctx context.Context, id session.SubjectID, sid, subject string) (session.Result, error) {
	now, err := m.begin(ctx)
	if err != nil {
		return session.Result{}, err
	}
	defer m.mu.Unlock()
	f := m.live(sid, now)
	if f == nil || f.id != id || (subject != "" && f.subject != subject) {
		return session.Result{}, session.ErrNotFound
	}
	m.drop(sid)
	m.notify(sid)
	return session.Result{Subject: f.subject}, nil
}

func (m *memory) RevokeAll(ctx context.Context, id session.SubjectID) (int, error) {
	now, err := m.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	return m.dropSubject(id, now), nil
}

func (m *memory) Sessions(ctx context.Context, id session.SubjectID) ([]session.Info, error) {
	now, err := m.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []session.Info
	for sid := range m.index[id] {
		if f := m.live(sid, now); f != nil {
			out = append(out, session.Info{ID: sid, Created: f.created, LastUsed: f.used,
				Expires: f.deadline(), Generation: f.cur.gen, Client: f.client})
		}
	}
	slices.SortFunc(out, func(a, b session.Info) int { return b.LastUsed.Compare(a.LastUsed) })
	return out, nil
}

func (m *memory) Active(ctx context.Context, sid, subject string) (time.Time, error) {
	now, err := m.begin(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer m.mu.Unlock()
	if f := m.live(sid, now); f != nil && f.subject == subject && subject != "" {
		return f.deadline(), nil
	}
	return time.Time{}, nil
}

func (m *memory) LoadOrStore(ctx context.Context, name string, value []byte) ([]byte, error) {
	if _, err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	if v, ok := m.meta[name]; ok || value == nil {
		return slices.Clone(v), nil
	}
	m.meta[name] = slices.Clone(value)
	return slices.Clone(value), nil
}
