package redisstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jwtrefresh/jwtrefresh/internal/redistest"
	"github.com/jwtrefresh/jwtrefresh/session"
)

// TestDPoPBindingSealed: a Redis write cannot unbind a DPoP-bound session
// (drop its thumbprint) nor rebind it to the writer's key: the record no
// longer matches its seal, every refresh is Tampered and nothing changes.
// Restored, the session refreshes with its own key only.
func TestDPoPBindingSealed(t *testing.T) {
	redistest.Each(t, func(t *testing.T, b *redistest.Backend) {
		ctx := context.Background()
		prefix := b.Prefix(t)
		s := newClient(t, b, newSecrets(t), prefix)
		jkt, thief := strings.Repeat("k", 43), strings.Repeat("t", 43)
		g, err := s.Create(ctx, session.NewSession{Subject: "bob", Claims: []byte(`{"role":"user"}`), KeyThumbprint: jkt})
		if err != nil {
			t.Fatal(err)
		}
		fam := prefix + s.tag("bob") + ":f:" + g.SessionID
		before := b.Client.HGetAll(ctx, fam).Val()
		if want := `3:bob#` + jkt + `{"role":"user"}`; before["sc"] != want {
			t.Fatalf("record %q, want %q", before["sc"], want)
		}
		rotate := func(key string) session.Outcome {
			t.Helper()
			rot, err := s.rotation(g.RefreshToken, "")
			if err != nil {
				t.Fatal(err)
			}
			rot.KeyThumbprint = key
			r, err := s.st.Rotate(ctx, rot)
			if err != nil {
				t.Fatal(err)
			}
			return r.Outcome
		}
		for name, c := range map[string]struct{ sc, key string }{
			"Unbound": {`3:bob{"role":"user"}`, ""},
			"Rebound": {`3:bob#` + thief + `{"role":"user"}`, thief},
		} {
			b.Client.HSet(ctx, fam, "sc", c.sc)
			if got := rotate(c.key); got != session.Tampered {
				t.Fatalf("%s record, refreshed with key %q: outcome %d, want Tampered", name, c.key, got)
			}
			if after := b.Client.HGetAll(ctx, fam).Val(); after["c"] != before["c"] {
				t.Fatalf("%s: refusing the edited record changed it", name)
			}
		}
		b.Client.HSet(ctx, fam, before)
		if got := rotate(""); got != session.WrongProofKey {
			t.Fatalf("restored, without the key: outcome %d, want WrongProofKey", got)
		}
		if got := rotate(jkt); got != session.Rotated {
			t.Fatalf("restored, with the key: outcome %d, want Rotated", got)
		}
	})
}
