package transport

import (
	"context"
	"crypto"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// maxSkewFraction caps the proactive-refresh skew at lifetime/maxSkewFraction.
const maxSkewFraction = 4

// session is one set of tokens with what RoundTrip derives from them once.
// Sessions are replaced, never changed, except for the atomic fields.
type session struct {
	tok       Token
	header    string        // "Bearer " or "DPoP " + access token
	key       crypto.Signer // signs a proof for each request; nil: Bearer
	expiry    time.Time     // zero: unknown
	refreshAt time.Time     // zero: never proactively
	// anonymous marks the session of an empty store with WithAnonymous:
	// requests go out without a token.
	anonymous bool
	// version is the store's version the tokens were read at or saved
	// with; a different one means the store has changed since.
	version atomic.Uint64
	// refusedAt is when (Unix nanoseconds) a request sent again with
	// these tokens, fresh from a refresh, drew a 401 too; 0 if never.
	refusedAt atomic.Int64
}

// newSession derives what RoundTrip needs from tok at now: the header value
// and when to refresh (see refreshAt).
func newSession(tok Token, now time.Time, skew time.Duration) *session {
	s := &session{tok: tok, header: "Bearer " + tok.AccessToken}
	if tok.bound() {
		s.header, s.key = "DPoP "+tok.AccessToken, tok.DPoPKey
	}
	s.expiry, s.refreshAt = times(&tok, now, skew)
	return s
}

// refreshAt returns when tok is to be refreshed at the latest.
func refreshAt(tok *Token, now time.Time, skew time.Duration) time.Time {
	_, at := times(tok, now, skew)
	return at
}

// times returns when tok's access token expires and when to refresh it
// (zero: unknown, never proactively). The expiry comes from the token, else
// from a JWT's exp claim unless that has passed already (then it says more
// about our clock, or an old token, than about when to refresh: the 401
// will tell); the lifetime, which caps the skew, from expires_in, else from
// the JWT's exp - iat.
func times(tok *Token, now time.Time, skew time.Duration) (expiry, refreshAt time.Time) {
	if tok.AccessToken == "" {
		// Only a refresh token: redeem it before the first request.
		return time.Unix(0, 0), time.Unix(0, 0)
	}
	expiry = tok.Expiry
	exp, iat := jwtTimes(tok.AccessToken)
	if expiry.IsZero() && exp.After(now) {
		expiry = exp
	}
	switch {
	case expiry.IsZero():
		return expiry, time.Time{}
	case tok.RefreshToken == "":
		// Nothing to refresh with: use the token until it expires.
		return expiry, expiry
	}
	lifetime := time.Duration(tok.ExpiresIn) * time.Second
	if lifetime <= 0 && !iat.IsZero() && exp.After(iat) {
		lifetime = exp.Sub(iat)
	}
	if lifetime > 0 {
		skew = min(skew, lifetime/maxSkewFraction)
	}
	return expiry, expiry.Add(-skew)
}

// due reports whether a token to be refreshed at is due at now.
func due(at, now time.Time) bool {
	return !at.IsZero() && !now.Before(at)
}

// authorize returns a shallow copy of req with its own header map carrying
// the access token, and body as its body. Nothing the copy shares with req
// is modified, by us or (per the RoundTripper contract) by the base. It
// has the whole session, so that state kept beside the tokens (such as a
// key that signs a per-request proof) can reach every request.
func (s *session) authorize(req *http.Request, body io.ReadCloser) *http.Request {
	r := new(http.Request)
	*r = *req
	h := make(http.Header, len(req.Header)+1)
	for k, v := range req.Header {
		h[k] = v
	}
	h["Authorization"] = []string{s.header}
	r.Header = h
	r.Body = body
	return r
}

// Login stores tok, the tokens of a new login, as the session, recording
// the Transport's refresh endpoint in it (Token.RefreshURL), and makes the
// Transport use it from the next request on. tok, typically what
// ReadTokenResponse made of the login response, is not modified. With a
// Locker store the save waits, at most until ctx is done, for a refresh in
// flight (in this process or another), which then cannot overwrite it.
//
// A token that cannot be used, or that records another refresh endpoint
// (ErrForeignToken), fails without touching the store. Saving a login with
// the Store's Save works too, but leaves RefreshURL empty until the first
// refresh: a program whose refresh URL can change between runs (a -server
// flag) must use Login.
//
// A DPoP-bound tok (token_type DPoP; see WithDPoP) is bound to the key of
// the proofs that LoginTransport sent, which the store keeps with it;
// Login fails if the store does not (see Token.DPoPKey), leaving it empty.
// With DPoP.Required, a Bearer tok fails.
func (t *Transport) Login(ctx context.Context, tok *Token) error {
	if t.r == nil {
		return errNotConfigured
	}
	if tok == nil {
		return errorf("transport: Login: nil Token")
	}
	if err := tok.validate(false); err != nil {
		return errorf("transport: Login: the token cannot be used: %w", err)
	}
	if err := t.r.owns(tok); err != nil {
		return err
	}
	login := *tok
	login.RefreshURL = t.r.stamp
	if err := t.r.dpop.bindLogin(&login); err != nil {
		return err
	}
	return t.r.replace(ctx, "saving the login", func(ctx context.Context, s Store) error {
		if err := s.Save(ctx, &login); err != nil {
			return err
		}
		return keptKey(ctx, s, &login)
	})
}

// bindLogin gives login, bound to a DPoP key, the key of the login
// request's proofs (nil for DPoP.Key, which no store holds).
func (p *prover) bindLogin(login *Token) error {
	switch {
	case !login.bound():
		if p.required {
			return errorf("transport: Login: %w; was the login request sent through LoginTransport?", errUnbound)
		}
		login.DPoPKey = nil
		return nil
	case login.DPoPKey != nil:
		return nil
	case !p.on:
		return errorf("transport: Login: the token is DPoP-bound, and this Transport has no WithDPoP to prove it")
	}
	key, err := p.bound()
	login.DPoPKey = key
	return err
}

// keptKey checks that s, which has just saved login, kept its DPoP key: a
// store that cannot is cleared, since its session could never be used.
func keptKey(ctx context.Context, s Store, login *Token) error {
	if login.DPoPKey == nil {
		return nil
	}
	got, err := s.Load(ctx)
	if err == nil && sameKey(got.DPoPKey, login.DPoPKey) {
		return nil
	}
	if cerr := s.Clear(ctx); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return errorf("the store did not keep the session's DPoP key (Token.DPoPKey); use one that does, or a DPoP.Key of your own: %w",
		errors.Join(ErrLoginRequired, err))
}

// LoginTransport returns the RoundTripper to send the login request with,
// through the Transport's base RoundTripper. With WithDPoP, each request
// carries a DPoP proof by the key that the next Login binds the session
// to, and is sent once more with the server's nonce if it answers
// use_dpop_nonce; without it, requests pass untouched. It never adds a
// token: the session does not exist yet.
func (t *Transport) LoginTransport() http.RoundTripper { return loginTripper{t} }

type loginTripper struct{ t *Transport }

func (l loginTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	t := l.t
	if t.r == nil {
		closeBody(req)
		return nil, errNotConfigured
	}
	if !t.r.dpop.on {
		return t.base.RoundTrip(req)
	}
	key, err := t.r.dpop.loginKey()
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, _, err := t.r.dpop.roundTrip(t.base, withBody(req, req.Body), key, "")
	return resp, err
}

// Logout clears the store (with a Locker store, after a refresh in flight
// has completed, so that it cannot bring the tokens back) and forgets the
// session in memory. Requests then fail with ErrLoginRequired, or go out
// without a token with WithAnonymous, until a new login is saved. It waits
// at most until ctx is done. Logout does not revoke the refresh token at
// the server: send it (from Session) to the RFC 7009 endpoint first.
func (t *Transport) Logout(ctx context.Context) error {
	if t.r == nil {
		return errNotConfigured
	}
	return t.r.replace(ctx, "clearing the token store", func(ctx context.Context, s Store) error { return s.Clear(ctx) })
}

// Session returns a copy of the session's tokens, refresh token included,
// as the next request would find them, without refreshing: for revoking
// the refresh token at the server (RFC 7009) before Logout. It fails like
// a request: ErrLoginRequired and ErrNoToken for an empty store (also with
// WithAnonymous), ErrLoginRequired and ErrForeignToken for another
// endpoint's session, or ctx's error.
func (t *Transport) Session(ctx context.Context) (*Token, error) {
	if t.r == nil {
		return nil, errNotConfigured
	}
	s, err := t.r.current(ctx)
	if err != nil {
		return nil, err
	}
	if s.anonymous {
		return nil, errorf("%w: %w", ErrLoginRequired, ErrNoToken)
	}
	tok := s.tok
	return &tok, nil
}

// Token returns the access token the next request would carry, refreshed
// first if it is due, for connections the Transport does not make itself:
// a WebSocket handshake, gRPC per-RPC credentials. The Token holds the
// access token, its type, ExpiresIn and Expiry, never the refresh token.
// It fails like RoundTrip; with an empty store, also with WithAnonymous.
// A DPoP-bound token (TokenType "DPoP") is useless without a proof, which
// only the Transport's own requests carry.
func (t *Transport) Token(ctx context.Context) (*Token, error) {
	if t.r == nil {
		return nil, errNotConfigured
	}
	s, err := t.r.use(ctx)
	if err != nil {
		return nil, err
	}
	if s.anonymous {
		return nil, errorf("%w: %w", ErrLoginRequired, ErrNoToken)
	}
	typ := "Bearer"
	if s.key != nil {
		typ = "DPoP"
	}
	return &Token{AccessToken: s.tok.AccessToken, TokenType: typ, ExpiresIn: s.tok.ExpiresIn, Expiry: s.expiry}, nil
}
