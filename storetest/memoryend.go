package storetest

import (
	"slices"
	"time"

	"github.com/jwtrefresh/jwtrefresh/session"
)

// How the in-memory store ends sessions, and pushes their ends
// (session.Watcher).

// Watch implements session.Watcher: every operation that ends sessions
// calls ended before it returns, under the store's lock (so in order), and
// live(true) is called once, at once: nothing can be missed in memory.
func (m *memory) Watch(ended func(sessionIDs []string), live func(bool)) (stop func()) {
	w := &watch{ended: ended}
	m.mu.Lock()
	m.watches[w] = struct{}{}
	m.mu.Unlock()
	live(true)
	return func() {
		m.mu.Lock()
		delete(m.watches, w)
		m.mu.Unlock()
	}
}

type watch struct{ ended func([]string) }

// notify tells every watch that the sessions ids ended; the caller holds
// m.mu.
func (m *memory) notify(ids ...string) {
	if len(ids) == 0 {
		return
	}
	for w := range m.watches {
		w.ended(slices.Clone(ids))
	}
}

// revoke ends the family sid per the reuse policy and counts the active
// sessions it ended.
func (m *memory) revoke(f *family, sid string, now time.Time) int {
	if m.cfg.ReusePolicy == session.RevokeFamily {
		m.drop(sid)
		m.notify(sid)
		return 1
	}
	return m.dropSubject(f.id, now)
}

// dropSubject ends every session of the subject id, notifies, and counts
// the active ones.
func (m *memory) dropSubject(id session.SubjectID, now time.Time) int {
	n := 0
	var ids []string
	for s := range m.index[id] {
		if m.live(s, now) != nil {
			n++
			m.drop(s)
			ids = append(ids, s)
		}
	}
	m.notify(ids...)
	return n
}
