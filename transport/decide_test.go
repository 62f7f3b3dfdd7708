package transport

import (
	"errors"
	"strings"
	"testing"
)

// TestDecide lists every case of decide: what a refresh does given the
// tokens it works from and what the store holds now.
func TestDecide(t *testing.T) {
	ours := Token{AccessToken: "at1", RefreshToken: "rt1"}
	withKey := Token{AccessToken: "at1", RefreshToken: "rt1", IdempotencyKey: "stored-key"}
	recorded := Token{AccessToken: "at1", RefreshToken: "rt1", RefreshURL: "https://a.example/token"}
	peers := Token{AccessToken: "at2", RefreshToken: "rt2"}
	peersWithKey := Token{AccessToken: "at2", RefreshToken: "rt2", IdempotencyKey: "peer-key"}
	noRefresh := Token{AccessToken: "at2"}
	empty := errorf("%w: %w", ErrLoginRequired, ErrNoToken)
	foreign := errorf("%w: %w: elsewhere", ErrLoginRequired, ErrForeignToken)
	unusable := errorf("%w: the stored token cannot be used", ErrLoginRequired)
	for _, tc := range []struct {
		name    string
		v       view
		action  action
		tok     Token  // for adopt, redeem, resume
		wantErr error  // for giveUp
		errText string // for giveUp, when the error says more
	}{
		// Before the refresh token is sent.
		{name: "store empty", v: view{from: ours, err: empty}, action: giveUp, wantErr: ErrNoToken},
		{name: "store foreign", v: view{from: ours, err: foreign}, action: giveUp, wantErr: ErrForeignToken},
		{name: "store unusable", v: view{from: ours, err: unusable}, action: giveUp, wantErr: ErrLoginRequired},
		{name: "unchanged", v: view{from: ours, stored: &ours}, action: redeem, tok: ours},
		{name: "unchanged, record kept", v: view{from: ours, stored: &recorded}, action: redeem, tok: recorded},
		{name: "unchanged, key stored", v: view{from: ours, stored: &withKey}, action: resume, tok: withKey},
		{name: "unchanged, key in memory", v: view{from: ours, stored: &ours, pending: pendingKey{"rt1", "mem-key"}},
			action: resume, tok: Token{AccessToken: "at1", RefreshToken: "rt1", IdempotencyKey: "mem-key"}},
		{name: "unchanged, key in memory for another token", v: view{from: ours, stored: &ours, pending: pendingKey{"rt0", "old-key"}},
			action: redeem, tok: ours},
		{name: "stored key wins over memory", v: view{from: ours, stored: &withKey, pending: pendingKey{"rt1", "mem-key"}},
			action: resume, tok: withKey},
		{name: "peer rotated", v: view{from: ours, stored: &peers}, action: adopt, tok: peers},
		{name: "peer rotated, theirs due too", v: view{from: ours, stored: &peers, storedDue: true}, action: redeem, tok: peers},
		{name: "peer rotated, theirs due, their key", v: view{from: ours, stored: &peersWithKey, storedDue: true},
			action: resume, tok: peersWithKey},
		{name: "peer's without refresh token, due", v: view{from: ours, stored: &noRefresh, storedDue: true},
			action: giveUp, errText: "no refresh token"},
		{name: "store missed our save", v: view{from: peers, stored: &ours, storedSpent: true}, action: redeem, tok: peers},
		{name: "store missed our save, key in memory", v: view{from: peers, stored: &ours, storedSpent: true, pending: pendingKey{"rt2", "k"}},
			action: resume, tok: Token{AccessToken: "at2", RefreshToken: "rt2", IdempotencyKey: "k"}},
		{name: "ours spent, store behind", v: view{from: ours, stored: &ours, storedSpent: true, fromSpent: true},
			action: giveUp, errText: "redeemed already"},
		{name: "ours spent", v: view{from: ours, stored: &ours, fromSpent: true}, action: giveUp, errText: "redeemed already"},
		{name: "no refresh token", v: view{from: noRefresh, stored: &noRefresh}, action: giveUp, errText: "no refresh token"},

		// Once the refresh is settled (redeemed, rejected, or loading).
		{name: "settled, unchanged", v: view{from: withKey, stored: &withKey, settled: true}, action: keep},
		{name: "settled, same tokens, other record", v: view{from: withKey, stored: &ours, settled: true}, action: keep},
		{name: "settled, store behind", v: view{from: peers, stored: &ours, storedSpent: true, settled: true}, action: keep},
		{name: "settled, peer saved", v: view{from: withKey, stored: &peers, settled: true}, action: adopt, tok: peers},
		{name: "settled, due peer saved", v: view{from: withKey, stored: &peers, storedDue: true, settled: true}, action: adopt, tok: peers},
		{name: "settled, cleared", v: view{from: withKey, err: empty, settled: true}, action: giveUp, wantErr: ErrNoToken},
		{name: "settled, foreign", v: view{from: withKey, err: foreign, settled: true}, action: giveUp, wantErr: ErrForeignToken},
		{name: "settled, unusable", v: view{from: withKey, err: unusable, settled: true}, action: keep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(tc.v)
			if d.action != tc.action {
				t.Fatalf("action %v, want %v (%v)", d.action, tc.action, d.err)
			}
			switch tc.action {
			case giveUp:
				if !errors.Is(d.err, ErrLoginRequired) || (tc.wantErr != nil && !errors.Is(d.err, tc.wantErr)) {
					t.Errorf("error %v; want ErrLoginRequired and %v", d.err, tc.wantErr)
				}
				if tc.errText != "" && !strings.Contains(d.err.Error(), tc.errText) {
					t.Errorf("error %q; want it to say %q", d.err, tc.errText)
				}
			case keep:
			default:
				if d.tok != tc.tok {
					t.Errorf("tokens %+v, want %+v", d.tok, tc.tok)
				}
			}
		})
	}
}

func (a action) String() string {
	return [...]string{"?", "redeem", "resume", "adopt", "keep", "giveUp"}[a]
}
