package jwtrefresh

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jwtrefresh/jwtrefresh/internal/mwclock"
	"github.com/jwtrefresh/jwtrefresh/middleware"
)

// sessionMiddleware builds the middleware of the session endpoints from
// the service's own settings only: its keys, issuer, audience and token
// type ([Service.Middleware]), its session check and its clock, and, with
// a logger, the logging of its refusals. Nothing else configures it, so no
// option can open the endpoints or make them refuse the service's tokens.
// It reads the access token from the Authorization header only: a token in
// a cookie, which browsers attach to cross-site requests, never reaches
// them.
func (s *Service) sessionMiddleware() (*middleware.Middleware, error) {
	opts := []middleware.Option{
		middleware.WithSessionCheck(s.SessionCheck(), s.cfg.retryAfter),
		mwclock.Option(s.cfg.now).(middleware.Option),
	}
	if s.cfg.logger != nil {
		opts = append(opts, middleware.WithEvents(s.logAccessRefusal))
	}
	if s.cfg.dpopBase != "" { // bound sessions' tokens, with a proof
		opts = append(opts, middleware.WithDPoP(middleware.DPoP{BaseURL: s.cfg.dpopBase, NonceKey: s.cfg.dpopNonceKey}))
	}
	return s.Middleware(opts...)
}

// logAccessRefusal logs a refusal of the session endpoints' middleware:
// at Debug, or at Warn when the session check could not reach the store.
// Error texts never quote token contents.
func (s *Service) logAccessRefusal(ctx context.Context, e middleware.Event) {
	if e.Err == nil {
		return
	}
	level := slog.LevelDebug
	if e.Err.Status == http.StatusServiceUnavailable {
		level = slog.LevelWarn
	}
	if s.cfg.logger.Enabled(ctx, level) {
		s.cfg.logger.LogAttrs(ctx, level, "access token refused",
			slog.Int("status", e.Err.Status), slog.String("reason", e.Err.Reason), slog.String("error", e.Err.Error()))
	}
}

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
