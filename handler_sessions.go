package jwtrefresh

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jwtrefresh/jwtrefresh/middleware"
)

// The session endpoints run behind s.mw, so the claims are always there.

func (s *Service) serveLogoutAll(w http.ResponseWriter, r *http.Request) {
	c, _ := middleware.ClaimsFrom(r.Context())
	n, err := s.RevokeAll(r.Context(), c.Subject)
	if err != nil {
		s.writeError(w, r, errorFor(err), err)
		return
	}
	if s.cookie != nil {
		s.cookie.clear(w) // this browser's session ended too
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
	c, _ := middleware.ClaimsFrom(r.Context())
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
	c, _ := middleware.ClaimsFrom(r.Context())
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
		if !k.Symmetric() {
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
