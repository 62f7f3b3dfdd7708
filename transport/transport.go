package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Defaults of the options.
const (
	defaultSkew       = 30 * time.Second
	defaultTimeout    = 30 * time.Second
	defaultAttempts   = 4
	defaultMinBackoff = 100 * time.Millisecond
	defaultMaxBackoff = 3 * time.Second
	// maxSkewFraction caps the skew at lifetime/maxSkewFraction.
	maxSkewFraction = 4
	// drainLimit is how much of a 401 body is read before it is closed, so
	// the connection can be reused for the retry.
	drainLimit = 4 << 10
)

var errNotConfigured = errors.New("transport: Transport not created by New")

// Transport is an http.RoundTripper that sends an access token with every
// request to its origins and keeps the token fresh. Use it as the Transport
// of an http.Client; create it with New. It is safe for concurrent use, and
// every method may be called from many goroutines.
//
// For a request to one of its origins (by default the refresh endpoint's
// origin; see WithOrigins) that carries no Authorization header of its own,
// RoundTrip sends a clone with "Authorization: Bearer <access token>". A
// request to any other origin, or one with its own Authorization header, is
// passed to the base RoundTripper untouched. The caller's request is never
// modified, and its body is always closed, also on errors.
//
// The session. The Transport reads the Store at its first request and
// keeps the tokens in memory. A stored token that records another refresh
// endpoint (Token.RefreshURL) is refused with ErrForeignToken: no request
// carries it and no refresh sends it. Store a login with Login, which
// records the Transport's refresh endpoint in it. With a MemoryStore or a FileStore it notices
// when the store changes (a FileStore is looked at once a second): a new
// login saved there is used from the next request on, and after a Clear
// requests fail with ErrLoginRequired. Reset forgets the tokens in memory
// for any Store; Logout clears the store as well. A Transport holds one
// session: a service acting for several users at once needs a Transport
// and a Store per user.
//
// Refresh. An access token within the expiry skew of its expiry (see
// WithExpirySkew) is refreshed before the request is sent. A 401 with a
// Bearer challenge saying the token is missing or invalid (see
// WithAnyUnauthorized) is handled once: if the 401 answered a token that
// has since been replaced, the request is sent again with the current one;
// otherwise the request joins the one refresh in flight (one per Transport,
// however many requests wait) and is sent again with the new token. A 401 to
// that second request is returned as is. A request whose body cannot be
// replayed (no Request.GetBody) is not sent again: its 401 is returned after
// the refresh, and the next request uses the new token.
//
// Refresh storms. When the request sent again with freshly refreshed tokens
// draws a 401 too, the server refuses the tokens for some other reason than
// their age (a wrong audience, a key it does not know yet, a clock far
// off). For a minute after that, a 401 to those tokens is returned as is,
// without a refresh, so such a server costs one refresh a minute rather
// than one per request. Tokens that worked and later expire are refreshed
// at their first 401 as usual, and proactive refresh is not affected.
//
// A refresh is an RFC 6749 §6 refresh_token grant POSTed to the refresh
// endpoint through the base (or refresh) RoundTripper, never through the
// Transport. It runs detached from the requests waiting for it, bounded by
// WithRefreshTimeout: a request whose context ends stops waiting, but the
// refresh, which the server may already have performed, completes and its
// tokens are saved. Each refresh carries a random Idempotency-Key, saved in
// the Store with the tokens before the request is sent; an attempt whose
// outcome is unknown (network error, timeout, 5xx, 408, 429) is repeated
// with the same refresh token and key (see WithRefreshRetries), and so is a
// refresh that a process killed mid-refresh left behind, so a rotating
// server that honours the key answers with the same new tokens instead of
// detecting reuse.
//
// Stores that implement Locker (MemoryStore, FileStore) are locked across
// re-read → redeem → persist. A refresh that finds the store rotated by a
// peer adopts the peer's tokens instead of redeeming its own stale refresh
// token; one that finds it empty (a logout) ends the session.
//
// Outcomes. invalid_grant clears the store, unless a peer has rotated it
// meanwhile, and fails the request with an error wrapping ErrLoginRequired;
// so does an empty store (unless WithAnonymous) or a stored token that
// cannot be used. A session without a refresh token is used until its
// access token expires, or draws a 401; then requests fail with
// ErrLoginRequired and the store is left as it is. Other failures keep the
// tokens: temporary ones wrap ErrRefreshUnavailable, and the refresh is not
// tried again before the server's Retry-After (or the maximum backoff) has
// passed; a token that is not yet expired is still used meanwhile. Rotated
// tokens are saved before the new access token is used. If saving fails,
// or the Store does not answer within the refresh timeout, the Transport
// goes on with the new tokens from memory, never sends the old refresh
// token again, and reports the error through WithLogger and
// Hooks.SaveFailed.
//
// Panics. The store is loaded, and tokens refreshed, on goroutines the
// Transport owns, where a panic would end the process. A panic there (in a
// Store or Locker method, a hook, or the refresh RoundTripper) is
// recovered and logged with its stack, and every request waiting for that
// load or refresh fails with an error wrapping ErrPanic; a panicking Save
// counts as a failed save (see above). The Transport stays usable: the
// next request tries again.
type Transport struct {
	// Configuration, set by New and read-only afterwards.
	base, refreshBase http.RoundTripper
	refreshURL        string
	stamp             string // canonicalURL(refreshURL), for Token.RefreshURL
	originURLs        []string
	originsSet        bool
	origins           []origin
	store             Store
	watch             versioned // store, when it can tell it changed
	insecureHTTP      bool
	anyUnauthorized   bool
	anonymous         bool
	skew, timeout     time.Duration
	attempts          int
	minBackoff        time.Duration
	maxBackoff        time.Duration
	clientID          string
	log               *slog.Logger
	hooks             Hooks
	now               func() time.Time

	// cur is the session in use; nil until loaded, and again after the
	// session ended.
	cur   atomic.Pointer[session]
	group singleflight.Group
	// storeBusy is held while a call into the store runs (see storeCall).
	storeBusy chan struct{}

	mu      sync.Mutex
	epoch   uint64         // guarded by mu; counts Resets
	pending pendingRefresh // guarded by mu
	spent   spentTokens    // guarded by mu
	retryAt time.Time      // guarded by mu; no refresh before it
}

// session is one set of tokens with what RoundTrip derives from them once.
// Sessions are replaced, never changed, except for the atomic fields.
type session struct {
	tok       Token
	header    string    // "Bearer " + access token
	expiry    time.Time // zero: unknown
	refreshAt time.Time // zero: never proactively
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

// refusedWindow is how long 401s to tokens refused right after their
// refresh are returned without another refresh.
const refusedWindow = time.Minute

// New returns a Transport that refreshes tokens at refreshURL (the RFC 6749
// token endpoint) and keeps them in store. refreshURL must be an absolute
// https URL, or http on a loopback host (see WithInsecureHTTP), without
// credentials or a fragment. New does not touch the store: the token is
// loaded by the first request.
//
// New fails on a nil store, also a typed nil such as the *FileStore of a
// NewFileStore whose error was ignored, on a nil Option, and on an option
// value out of range. Its errors never repeat a password from a URL.
func New(refreshURL string, store Store, opts ...Option) (*Transport, error) {
	if isNil(store) {
		// A typed nil (a failed constructor's result) would only panic at
		// the first request.
		return nil, errorf("transport: the Store is nil (%T); was the error of its constructor ignored?", store)
	}
	t := &Transport{
		store:      store,
		storeBusy:  make(chan struct{}, 1),
		skew:       defaultSkew,
		timeout:    defaultTimeout,
		attempts:   defaultAttempts,
		minBackoff: defaultMinBackoff,
		maxBackoff: defaultMaxBackoff,
	}
	for i, opt := range opts {
		if opt == nil {
			return nil, errorf("transport: option %d of %d is nil", i+1, len(opts))
		}
		opt(t)
	}
	o, u, err := parseOrigin(refreshURL, t.insecureHTTP)
	if err != nil {
		return nil, errorf("transport: refresh URL: %w", err)
	}
	if u.Fragment != "" {
		return nil, errorf("transport: refresh URL %q has a fragment", u.Redacted())
	}
	t.refreshURL = u.String()
	t.stamp = canonicalURL(u)
	t.origins = []origin{o}
	if t.originsSet {
		if len(t.originURLs) == 0 {
			return nil, errors.New("transport: WithOrigins lists no origin")
		}
		t.origins = t.origins[:0]
		for _, raw := range t.originURLs {
			o, _, err := parseOrigin(raw, t.insecureHTTP)
			if err != nil {
				return nil, errorf("transport: WithOrigins: %w", err)
			}
			t.origins = append(t.origins, o)
		}
	}
	switch {
	case t.skew < 0:
		return nil, errorf("transport: negative expiry skew %s", t.skew)
	case t.timeout <= 0:
		return nil, errorf("transport: refresh timeout %s is not positive", t.timeout)
	case t.attempts < 1:
		return nil, errorf("transport: %d refresh attempts; at least 1 is needed", t.attempts)
	case t.minBackoff < 0 || t.maxBackoff < t.minBackoff:
		return nil, errorf("transport: backoff %s..%s is not a range", t.minBackoff, t.maxBackoff)
	}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.refreshBase == nil {
		t.refreshBase = t.base
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	t.watch, _ = store.(versioned)
	return t, nil
}

// isNil reports whether v is nil or holds a nil pointer, map, slice,
// channel or func: a value whose methods most likely panic.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// RoundTrip implements http.RoundTripper; see Transport for what it does.
// Besides the base RoundTripper's errors it returns errors wrapping
// ErrLoginRequired (with ErrForeignToken for another server's session),
// ErrRefreshUnavailable, ErrInvalidResponse or a
// *ResponseError from the token endpoint, or the request context's error.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.store == nil {
		closeBody(req)
		return nil, errNotConfigured
	}
	if !t.authorizes(req) {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	s, err := t.session(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if s.anonymous {
		return t.base.RoundTrip(req)
	}
	resp, err := t.base.RoundTrip(s.authorize(req, req.Body))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !t.shouldRefresh(resp) {
		return resp, err
	}
	return t.unauthorized(ctx, req, s, resp)
}

// Token returns the access token the next request would carry, refreshing
// it first if it is within the expiry skew of its expiry, for connections
// the Transport does not make itself: a WebSocket handshake, gRPC per-RPC
// credentials. The Token holds the access token, its type ("Bearer"),
// ExpiresIn and Expiry (zero when unknown), never the refresh token. It
// fails like RoundTrip: with ErrLoginRequired when there is no session
// (also with WithAnonymous), ErrRefreshUnavailable when an expired token
// cannot be refreshed for now, or ctx's error.
func (t *Transport) Token(ctx context.Context) (*Token, error) {
	if t.store == nil {
		return nil, errNotConfigured
	}
	s, err := t.session(ctx)
	if err != nil {
		return nil, err
	}
	if s.anonymous {
		return nil, errorf("%w: %w", ErrLoginRequired, ErrNoToken)
	}
	return &Token{AccessToken: s.tok.AccessToken, TokenType: "Bearer", ExpiresIn: s.tok.ExpiresIn, Expiry: s.expiry}, nil
}

// Login stores tok, the tokens of a new login, as the session, recording
// the Transport's refresh endpoint in it (Token.RefreshURL; see there), and
// makes the Transport use it from the next request on. tok is typically
// what ReadTokenResponse made of the login response; it is not modified.
// Login saves under the store's lock if it is a Locker, so a refresh in
// flight, in this process or another, completes first and cannot overwrite
// the new login. It waits at most until ctx is done.
//
// A token that cannot be used fails without touching the store, and so
// does one that records another refresh endpoint (ErrForeignToken): a
// login belongs to the server it was made at.
//
// Saving a login with the Store's Save works too, but leaves RefreshURL as
// the application set it: an empty one is recorded only at the first
// refresh, and until then any Transport accepts the token. A program whose
// refresh URL can change between runs (a -server flag) must use Login.
func (t *Transport) Login(ctx context.Context, tok *Token) error {
	if t.store == nil {
		return errNotConfigured
	}
	if tok == nil {
		return errors.New("transport: Login: nil Token")
	}
	if err := tok.validate(false); err != nil {
		return errorf("transport: Login: the token cannot be used: %w", err)
	}
	if err := t.owns(tok); err != nil {
		return err
	}
	login := *tok
	login.RefreshURL = t.stamp
	return t.replaceSession(ctx, "saving the login", func(ctx context.Context) error { return t.store.Save(ctx, &login) })
}

// Session returns a copy of the session's tokens, refresh token included,
// as the next request would find them, without refreshing: for revoking
// the refresh token at the server (RFC 7009) before Logout. It reads the
// store like a request does, and fails like one: with an error wrapping
// ErrLoginRequired (and ErrNoToken) when the store is empty, also with
// WithAnonymous; wrapping ErrLoginRequired and ErrForeignToken when the
// stored token belongs to another refresh endpoint; or with ctx's error.
func (t *Transport) Session(ctx context.Context) (*Token, error) {
	if t.store == nil {
		return nil, errNotConfigured
	}
	s, err := t.current(ctx, t.now())
	if err != nil {
		return nil, err
	}
	if s.anonymous {
		return nil, errorf("%w: %w", ErrLoginRequired, ErrNoToken)
	}
	tok := s.tok
	return &tok, nil
}

// Reset forgets the session held in memory, without touching the store:
// the next request reads the store again. Use it after replacing the
// store's token by other means than its Save, or with a Store of your own
// when another user logs in (MemoryStore and FileStore tell the Transport
// themselves). Requests already in flight may complete with the old tokens
// (or, after a 401, with the new ones); a refresh in flight saves its
// tokens to the store but does not make them current.
func (t *Transport) Reset() {
	t.mu.Lock()
	t.epoch++
	t.cur.Store(nil)
	t.mu.Unlock()
}

// Logout ends the session on this side: it clears the store, under its
// lock if it is a Locker (so that a refresh in flight, in this process or
// another, completes first and cannot bring the tokens back), and forgets
// the tokens in memory. Requests then fail with ErrLoginRequired (or go out
// without a token, with WithAnonymous) until a new login is saved in the
// store. It waits at most until ctx is done.
//
// Logout does not revoke the refresh token at the server: to end the
// session there too, send the refresh token (from Session) to the server's
// RFC 7009 revocation endpoint first.
func (t *Transport) Logout(ctx context.Context) error {
	if t.store == nil {
		return errNotConfigured
	}
	return t.replaceSession(ctx, "clearing the token store", t.store.Clear)
}

// replaceSession runs write, a Save or Clear of the store, under the store's
// lock if it is a Locker, and then forgets the session in memory. what
// names the write in its error.
func (t *Transport) replaceSession(ctx context.Context, what string, write func(context.Context) error) error {
	ctx = withLockOwner(ctx)
	if l, ok := t.store.(Locker); ok {
		unlock, err := l.Lock(ctx)
		switch {
		case err == nil:
			defer t.unlockAfterStore(unlock)
		case errors.Is(err, ErrUnsafeTokenFile):
			// A FileStore in an unsafe directory: it refuses its lock
			// and every Load and Save (so no refresh can race), and its
			// Clear works regardless, so that a logout succeeds. A
			// Save says why it refuses.
		default:
			return errorf("transport: locking the token store: %w", err)
		}
	}
	err := t.storeCall(ctx, write)
	t.Reset()
	if err != nil {
		return errorf("transport: %s: %w", what, err)
	}
	return nil
}

// CloseIdleConnections closes the idle connections of the base (and
// refresh) RoundTripper, if it has that method. http.Client calls it.
func (t *Transport) CloseIdleConnections() {
	type closer interface{ CloseIdleConnections() }
	if c, ok := t.base.(closer); ok {
		c.CloseIdleConnections()
	}
	if t.refreshBase != t.base {
		if c, ok := t.refreshBase.(closer); ok {
			c.CloseIdleConnections()
		}
	}
}

// authorizes reports whether req goes to one of the origins and has not
// brought credentials of its own.
func (t *Transport) authorizes(req *http.Request) bool {
	if req.URL == nil {
		return false
	}
	if _, own := req.Header["Authorization"]; own {
		return false
	}
	for i := range t.origins {
		if t.origins[i].matches(req.URL) {
			return true
		}
	}
	return false
}

func (t *Transport) shouldRefresh(resp *http.Response) bool {
	found, refresh := bearerVerdict(resp.Header["Www-Authenticate"])
	if found {
		return refresh
	}
	return t.anyUnauthorized
}

// session returns the tokens to send, loading them on first use and when
// the store has changed, and refreshing them when they are about to expire.
func (t *Transport) session(ctx context.Context) (*session, error) {
	now := t.now()
	s, err := t.current(ctx, now)
	if err != nil {
		return nil, err
	}
	if s.refreshAt.IsZero() || now.Before(s.refreshAt) {
		return s, nil
	}
	next, _, err := t.renew(ctx, s, true)
	if err == nil {
		return next, nil
	}
	// A token that has not expired yet is still good: send it, and let a
	// later request try the refresh again.
	if errors.Is(err, ErrLoginRequired) || ctx.Err() != nil || !t.now().Before(s.expiry) {
		return nil, err
	}
	t.log.Debug("transport: proactive refresh failed; using the current access token until it expires", logError(err))
	return s, nil
}

// current returns the session in use, loading it on first use and when the
// store has changed.
func (t *Transport) current(ctx context.Context, now time.Time) (*session, error) {
	s := t.cur.Load()
	if s == nil || (t.watch != nil && t.watch.version(now) != s.version.Load()) {
		return t.load(ctx, s)
	}
	return s, nil
}

// unauthorized handles a 401 to a request sent with s: refresh (or notice a
// refresh already happened) and send the request once more.
func (t *Transport) unauthorized(ctx context.Context, req *http.Request, s *session, resp *http.Response) (*http.Response, error) {
	if t.refused(s) {
		return resp, nil
	}
	if h := t.hooks.Unauthorized; h != nil {
		h(req)
	}
	next, stale, err := t.renew(ctx, s, false)
	if err != nil {
		drainClose(resp)
		return nil, err
	}
	var body io.ReadCloser
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil // not replayable; the next request gets the new token
		}
		if body, err = req.GetBody(); err != nil {
			t.log.Debug("transport: request body cannot be replayed; returning the 401", "error", err)
			return resp, nil
		}
	}
	drainClose(resp)
	if h := t.hooks.Retried; h != nil {
		h(RetryInfo{Request: req, Stale: stale})
	}
	resp, err = t.base.RoundTrip(next.authorize(req, body))
	if err == nil && !stale && resp.StatusCode == http.StatusUnauthorized && t.shouldRefresh(resp) &&
		next.refusedAt.CompareAndSwap(0, t.now().UnixNano()) {
		t.log.Warn("transport: the server refused freshly refreshed tokens; not refreshing on its 401s for a while",
			"for", refusedWindow)
	}
	return resp, err
}

// refused reports whether s is still the session in use and its tokens were
// refused right after their refresh, less than refusedWindow ago: another
// refresh would not help.
func (t *Transport) refused(s *session) bool {
	at := s.refusedAt.Load()
	if at == 0 || t.now().UnixNano()-at >= int64(refusedWindow) {
		return false
	}
	cur := t.cur.Load()
	return cur == nil || cur.header == s.header
}

// authorize returns a shallow copy of req with its own header map carrying
// the access token, and body as its body. Nothing the copy shares with req
// is modified, by us or (per the RoundTripper contract) by the base.
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

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

func drainClose(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
	resp.Body.Close()
}

// newSession derives what RoundTrip needs from tok at now: the header value
// and when to refresh. The expiry comes from the token, else from a JWT's
// exp claim unless that has passed already (then it says more about our
// clock, or an old token, than about when to refresh: the 401 will tell);
// the lifetime from expires_in, else from the JWT's exp - iat.
func (t *Transport) newSession(tok Token, now time.Time) *session {
	s := &session{tok: tok, header: "Bearer " + tok.AccessToken, expiry: tok.Expiry}
	if tok.AccessToken == "" {
		// Only a refresh token: redeem it before the first request.
		s.expiry = time.Unix(0, 0)
		s.refreshAt = s.expiry
		return s
	}
	exp, iat := jwtTimes(tok.AccessToken)
	if s.expiry.IsZero() && exp.After(now) {
		s.expiry = exp
	}
	if s.expiry.IsZero() {
		return s
	}
	if tok.RefreshToken == "" {
		// Nothing to refresh with: use the token until it expires.
		s.refreshAt = s.expiry
		return s
	}
	lifetime := time.Duration(tok.ExpiresIn) * time.Second
	if lifetime <= 0 && !iat.IsZero() && exp.After(iat) {
		lifetime = exp.Sub(iat)
	}
	skew := t.skew
	if lifetime > 0 {
		skew = min(skew, lifetime/maxSkewFraction)
	}
	s.refreshAt = s.expiry.Add(-skew)
	return s
}
