package jwtrefresh

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/mwclock"
	"github.com/jwtrefresh/jwtrefresh/middleware"
)

// sessionMiddleware builds the middleware of the session endpoints: the
// service's settings (issuer, token type, audience), the application's
// options (WithMiddlewareOptions), then the service's settings again with
// its session check and clock, so that the options cannot change them.
//
// Options that would leave the endpoints unusable are refused: any that
// lets a request without an access token through (middleware.WithOptional),
// since the endpoints act on the caller's subject, and any that makes the
// service's own access tokens refused (another issuer, audience or token
// type, a token length limit below the tokens' size, a Keyfunc). Both are
// found by trying the options on a copy of the middleware, with the
// application's session check, hooks and logger switched off: no I/O and
// no event is caused.
func (s *Service) sessionMiddleware() (*middleware.Middleware, error) {
	user := s.cfg.mwOpts
	own := []middleware.Option{
		middleware.WithIssuer(s.issuer),
		middleware.WithTokenType(AccessTokenType),
		middleware.WithSessionCheck(s.SessionCheck(), s.cfg.retryAfter),
		middlewareClock(s.cfg.now),
	}
	if len(s.cfg.audience) > 0 {
		own = append(own, middleware.WithAudience(s.cfg.audience...))
	}
	mw, err := s.Middleware(append(user[:len(user):len(user)], own...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: middleware: %w", ErrInvalidConfig, err)
	}
	if len(user) == 0 {
		return mw, nil
	}
	probe, err := s.Middleware(append(user[:len(user):len(user)],
		middleware.WithSessionCheck(func(context.Context, *middleware.Claims) error { return nil }, 0),
		middlewareClock(s.cfg.now),
		middleware.WithEvents(nil), middleware.WithErrorHandler(nil),
		middleware.WithCache(0, 0))...)
	if err != nil {
		return nil, fmt.Errorf("%w: middleware: %w", ErrInvalidConfig, err)
	}
	anonymous := false
	req, _ := http.NewRequest(http.MethodGet, "/sessions", nil) // a constant URL: no error
	probe.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { anonymous = true })).
		ServeHTTP(discardWriter{http.Header{}}, req)
	if anonymous {
		return nil, configError("WithMiddlewareOptions: the session endpoints need the caller's access token; " +
			"an option letting requests without one through (middleware.WithOptional) is refused")
	}
	tok, _, err := s.accessToken("jwtrefresh-config-check", "config-check", nil, s.cfg.now())
	if err != nil {
		return nil, configError("the current key cannot sign: %v", err)
	}
	if _, err := probe.Verify(context.Background(), tok); err != nil {
		return nil, configError("WithMiddlewareOptions: the options make the session endpoints refuse the service's own access tokens: %v", err)
	}
	return mw, nil
}

// middlewareClock makes a middleware read the time from now, as the
// service does.
func middlewareClock(now func() time.Time) middleware.Option {
	return mwclock.Option(now).(middleware.Option)
}

// discardWriter is a ResponseWriter that keeps nothing. (net/http/httptest
// would register its command-line flag in every program using the service.)
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header       { return d.h }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

// caller returns the verified claims of the session endpoints' caller. The
// middleware built by sessionMiddleware always provides them; should it
// not, the request is refused as the middleware refuses a request without
// a token (401 with the Bearer challenge), never served as nobody's.
func (s *Service) caller(w http.ResponseWriter, r *http.Request) (*middleware.Claims, bool) {
	if c, ok := middleware.ClaimsFrom(r.Context()); ok && c != nil {
		return c, true
	}
	_, err := s.mw.Verify(r.Context(), "")
	var e *middleware.Error
	if !errors.As(err, &e) { // Verify refuses an empty token with an *Error
		s.writeError(w, r, respServerError, err)
		return nil, false
	}
	e.Write(w)
	return nil, false
}

func (s *Service) serveLogoutAll(w http.ResponseWriter, r *http.Request) {
	c, ok := s.caller(w, r)
	if !ok {
		return
	}
	n, err := s.RevokeAll(r.Context(), c.Subject)
	if err != nil {
		s.writeError(w, r, errorFor(err), err)
		return
	}
	if s.cfg.cookie != nil {
		s.cfg.cookie.clear(w) // this browser's session ended too
	}
	s.writeJSON(w, r, struct {
		Revoked int `json:"revoked"`
	}{n})
}

// sessionJSON is one entry of the session list.
type sessionJSON struct {
	ID        string    `json:"id"`
	Current   bool      `json:"current"` // the caller's own session
	Created   time.Time `json:"created"`
	LastUsed  time.Time `json:"last_used"`
	Expires   time.Time `json:"expires"`
	UserAgent string    `json:"user_agent,omitempty"`
	IP        string    `json:"ip,omitempty"`
	Device    string    `json:"device,omitempty"`
}

func (s *Service) serveSessions(w http.ResponseWriter, r *http.Request) {
	c, ok := s.caller(w, r)
	if !ok {
		return
	}
	list, err := s.Sessions(r.Context(), c.Subject)
	if err != nil {
		s.writeError(w, r, errorFor(err), err)
		return
	}
	out := struct {
		Sessions []sessionJSON `json:"sessions"`
	}{make([]sessionJSON, len(list))}
	for i, se := range list {
		out.Sessions[i] = sessionJSON{
			ID: se.ID, Current: se.ID == c.SessionID,
			Created: se.Created.UTC(), LastUsed: se.LastUsed.UTC(), Expires: se.Expires.UTC(),
			UserAgent: se.Client.UserAgent, IP: se.Client.IP, Device: se.Client.Device,
		}
	}
	s.writeJSON(w, r, out)
}

func (s *Service) serveDeleteSession(w http.ResponseWriter, r *http.Request) {
	c, ok := s.caller(w, r)
	if !ok {
		return
	}
	if err := s.RevokeSession(r.Context(), c.Subject, r.PathValue("id")); err != nil {
		s.writeError(w, r, errorFor(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// jwksCache holds the JWKS document of the key set's current generation.
type jwksCache struct{ doc atomic.Pointer[jwksDoc] }

type jwksDoc struct {
	gen    uint64
	body   []byte   // nil: no asymmetric key to publish
	etag   []string // header value
	length []string // header value
}

var hdrJWKSType = []string{"application/jwk-set+json"}

// serveJWKS publishes the public signing keys. Clients may cache them but
// must revalidate (ETag, 304), so a rotation is seen at once.
func (s *Service) serveJWKS(w http.ResponseWriter, r *http.Request) {
	doc, err := s.jwks.current(s)
	if err != nil {
		s.writeError(w, r, respServerError, err)
		return
	}
	if doc.body == nil {
		s.writeError(w, r, respNoKeys, nil)
		return
	}
	h := w.Header()
	h["Cache-Control"] = hdrNoCache // may be stored, must be revalidated
	delete(h, "Pragma")
	h["Etag"] = doc.etag
	if etagMatch(r.Header["If-None-Match"], doc.etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Type"] = hdrJWKSType
	h["X-Content-Type-Options"] = hdrNoSniff
	h["Content-Length"] = doc.length
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc.body)
}

func (c *jwksCache) current(s *Service) (*jwksDoc, error) {
	// The generation is read first: a rotation racing with this call then
	// leaves a document tagged older than its keys, rebuilt next time.
	gen := s.keys.Generation()
	if d := c.doc.Load(); d != nil && d.gen == gen {
		return d, nil
	}
	d := &jwksDoc{gen: gen}
	for _, k := range s.keys.Keys() {
		if _, asymmetric := k.Public(); asymmetric {
			body, err := s.keys.JWKS()
			if err != nil {
				return nil, err
			}
			sum := sha256.Sum256(body)
			d.body = body
			d.etag = []string{`"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
			d.length = []string{strconv.Itoa(len(body))}
			break
		}
	}
	c.doc.Store(d)
	return d, nil
}

// etagMatch evaluates If-None-Match (RFC 9110 §13.1.2, weak comparison).
func etagMatch(values []string, etag string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == etag || t == "*" {
				return true
			}
		}
	}
	return false
}
