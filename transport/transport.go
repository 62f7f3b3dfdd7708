package transport

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// drainLimit is how much of a 401 body is read before it is closed, so the
// connection can be reused for the retry.
const drainLimit = 4 << 10

// refusedWindow is how long 401s to tokens refused right after their
// refresh are returned without another refresh.
const refusedWindow = time.Minute

var errNotConfigured = errors.New("transport: Transport not created by New")

// Transport is an http.RoundTripper that sends an access token with every
// request to its origins and keeps the token fresh; create it with New and
// use it as the Transport of an http.Client. It is safe for concurrent use.
//
// A request to one of its origins (by default the refresh endpoint's; see
// WithOrigins) without an Authorization header of its own is sent as a
// clone carrying "Authorization: Bearer <access token>" (for a DPoP-bound
// session "DPoP <access token>" and a proof; see WithDPoP); other requests
// pass untouched. The caller's request is never modified, and its body is
// always closed. A token due for refresh is refreshed before it is sent; a
// 401 saying the token is missing or invalid makes the Transport refresh
// once (shared by every request waiting) and send the request again once.
//
// Requests fail with errors wrapping ErrLoginRequired when there is no
// session (ErrForeignToken for another server's), ErrRefreshUnavailable
// when the token endpoint cannot be reached for now, or ErrPanic. The
// package documentation describes the protocol: stores, locking, the
// idempotency key, and what each outcome does to the stored session.
type Transport struct {
	base            http.RoundTripper
	origins         []origin
	anyUnauthorized bool
	unauthorized    func(*http.Request)       // Hooks.Unauthorized
	retried         func(*http.Request, bool) // Hooks.Retried
	log             *slog.Logger
	now             func() time.Time
	r               *refresher // the session: loaded, refreshed and saved
}

// RoundTrip implements http.RoundTripper; see Transport.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.r == nil {
		closeBody(req)
		return nil, errNotConfigured
	}
	if !t.authorizes(req) {
		return t.base.RoundTrip(req)
	}
	s, err := t.r.use(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if s.anonymous {
		return t.base.RoundTrip(req)
	}
	resp, nonced, err := t.send(req, s, req.Body)
	if err != nil || nonced || resp.StatusCode != http.StatusUnauthorized || !t.shouldRefresh(resp, s) {
		// A request sent again with a server's nonce is not sent a third
		// time: its 401 is returned as is.
		return resp, err
	}
	return t.retry(req, s, resp)
}

// send sends req with s's tokens and body: a bound session's with a DPoP
// proof, once more with the server's nonce if it asks for one (nonced).
func (t *Transport) send(req *http.Request, s *session, body io.ReadCloser) (resp *http.Response, nonced bool, err error) {
	out := s.authorize(req, body)
	if s.key == nil {
		resp, err = t.base.RoundTrip(out)
		return resp, false, err
	}
	return t.r.dpop.roundTrip(t.base, out, s.key, s.tok.AccessToken)
}

// retry handles a 401 to req sent with s: it refreshes (or finds that a
// refresh already replaced s) and sends req once more, if its body can be
// sent again.
func (t *Transport) retry(req *http.Request, s *session, resp *http.Response) (*http.Response, error) {
	if t.refused(s) {
		return resp, nil
	}
	if t.unauthorized != nil {
		t.unauthorized(req)
	}
	next, stale, err := t.r.refresh(req.Context(), s, false)
	if err != nil {
		drainClose(resp)
		return nil, err
	}
	body, ok := replayBody(req)
	if !ok {
		// Not replayable: the next request gets the new token.
		t.log.Debug("transport: request body cannot be replayed; returning the 401")
		return resp, nil
	}
	drainClose(resp)
	if t.retried != nil {
		t.retried(req, stale)
	}
	resp, _, err = t.send(req, next, body)
	if err == nil && !stale && resp.StatusCode == http.StatusUnauthorized && t.shouldRefresh(resp, next) &&
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
	cur := t.r.cur.Load()
	return cur == nil || cur.header == s.header
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

// shouldRefresh reports whether a 401 to s's tokens says the token is
// missing or invalid: its DPoP challenge, for a bound session, else its
// Bearer challenge.
func (t *Transport) shouldRefresh(resp *http.Response, s *session) bool {
	values := resp.Header["Www-Authenticate"]
	if s.key != nil {
		if found, refresh := verdict(values, "DPoP"); found {
			return refresh
		}
	}
	if found, refresh := bearerVerdict(values); found {
		return refresh
	}
	return t.anyUnauthorized
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
