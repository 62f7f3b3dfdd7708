package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/jwtrefresh/jwtrefresh"
	"github.com/jwtrefresh/jwtrefresh/keys"
	"github.com/jwtrefresh/jwtrefresh/middleware"
	"github.com/jwtrefresh/jwtrefresh/redisstore"
	"github.com/jwtrefresh/jwtrefresh/session"
	"github.com/redis/go-redis/v9"
)

const (
	// issuer and audience of the access tokens. Fixed, so that several
	// instances sharing keys and Redis accept each other's tokens.
	issuer   = "jwtrefresh-example"
	audience = "example-api"

	maxLoginBody = 4 << 10
	maxEchoBody  = 1 << 20
)

// counterNames maps session events to the keys of the "sessions" map at
// /debug/vars.
var counterNames = map[jwtrefresh.EventKind]string{
	jwtrefresh.EventLogin:         "login",
	jwtrefresh.EventRotate:        "refresh",
	jwtrefresh.EventReplay:        "replay",
	jwtrefresh.EventHealed:        "healed",
	jwtrefresh.EventReuseDetected: "reuse",
	jwtrefresh.EventRevoke:        "revoke",
	jwtrefresh.EventRevokeAll:     "revoke_all",
	jwtrefresh.EventEvict:         "evict",
	jwtrefresh.EventTampered:      "tampered",
	jwtrefresh.EventDPoPRefused:   "dpop_refused",
	jwtrefresh.EventCheckDegraded: "check_degraded",
	jwtrefresh.EventCheckRestored: "check_restored",
}

// user is a demo account.
type user struct {
	passwordHash [sha256.Size]byte
	claims       json.RawMessage // copied into every access token
}

func demoUser(password, name string) user {
	claims, _ := json.Marshal(map[string]string{"name": name})
	return user{passwordHash: sha256.Sum256([]byte(password)), claims: claims}
}

var users = map[string]user{
	"alice": demoUser("wonderland", "Alice Liddell"),
	"bob":   demoUser("builder", "Bob the Builder"),
}

// app is the demo API: the token service, its endpoints and the
// protected routes.
type app struct {
	log    *slog.Logger
	svc    *jwtrefresh.Service
	counts *expvar.Map
	dpop   string // off, allowed or required
}

// newStore is the session store on rdb, as cfg says.
func newStore(cfg *config, rdb redis.UniversalClient) (session.Store, error) {
	opts := []redisstore.Option{
		redisstore.WithKeyPrefix(cfg.keyPrefix),
		redisstore.WithReuseGrace(cfg.reuseGrace),
		redisstore.WithReusePolicy(cfg.reusePolicy),
	}
	if cfg.replicaAck > 0 {
		opts = append(opts, redisstore.WithReplicaAck(cfg.replicaAck, cfg.replicaAckTimeout))
	}
	return redisstore.New(rdb, opts...)
}

// newApp builds the service on rdb. counts receives the session counters
// (main publishes it as "sessions").
func newApp(cfg *config, rdb redis.UniversalClient, log *slog.Logger, counts *expvar.Map) (*app, http.Handler, error) {
	a := &app{log: log, counts: counts, dpop: cfg.dpop}
	for _, name := range counterNames {
		counts.Add(name, 0) // listed from the start
	}
	secrets, err := refreshSecrets(cfg.refreshKeys)
	if err != nil {
		return nil, nil, err
	}
	store, err := newStore(cfg, rdb)
	if err != nil {
		return nil, nil, err
	}
	signing, err := signingKeys(cfg.signingKeys)
	if err != nil {
		return nil, nil, err
	}
	svcOpts, mwOpts := a.options(cfg, log, store)
	if a.svc, err = jwtrefresh.NewService(store, secrets, signing, issuer, svcOpts...); err != nil {
		return nil, nil, err
	}
	// The session check makes a logout or a revocation refuse the
	// session's access tokens at once, on every server sharing the Redis,
	// not only when they expire.
	if cfg.sessionCheck != "off" {
		mwOpts = append(mwOpts, middleware.WithSessionCheck(a.svc.SessionCheck(), 0))
	}
	mw, err := a.svc.Middleware(mwOpts...)
	if err != nil {
		return nil, nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", a.login)
	mux.Handle("/auth/", http.StripPrefix("/auth", a.svc.Handler()))
	mux.Handle("GET /api/me", mw.Handler(http.HandlerFunc(a.me)))
	mux.Handle("POST /api/echo", mw.Handler(http.HandlerFunc(a.echo)))
	mux.HandleFunc("GET /debug/vars", vars)
	// Other methods: a JSON 405 like the token endpoints', not the mux's
	// plain text.
	mux.Handle("/login", methodNotAllowed("POST"))
	mux.Handle("/api/me", methodNotAllowed("GET, HEAD"))
	mux.Handle("/api/echo", methodNotAllowed("POST"))
	return a, mux, nil
}

// options are the service's options and the middleware's DPoP option,
// when DPoP is not off; the session check's are added by newApp.
func (a *app) options(cfg *config, log *slog.Logger, store session.Store) ([]jwtrefresh.Option, []middleware.Option) {
	svcOpts := []jwtrefresh.Option{
		jwtrefresh.WithAudience(audience),
		jwtrefresh.WithAccessTokenTTL(cfg.accessTTL),
		jwtrefresh.WithLogger(log), // session events, refused requests, degraded mode
		jwtrefresh.WithEvents(a.event),
	}
	if cfg.sessionCheck == "closed" {
		svcOpts = append(svcOpts, jwtrefresh.WithMaxStale(0)) // 503 whenever Redis must answer and cannot
	}
	if cfg.dpop == "off" {
		return svcOpts, nil
	}
	if cfg.publicURL == "" { // main sets it from the listener
		cfg.publicURL = "http://" + cfg.addr
	}
	// Proofs name the public URL; the store's replay check refuses a proof
	// already used on any instance.
	return append(svcOpts, jwtrefresh.WithDPoP(cfg.publicURL, nil)),
		[]middleware.Option{middleware.WithDPoP(middleware.DPoP{BaseURL: cfg.publicURL,
			Required: cfg.dpop == "required", Replay: store.(middleware.ReplayCheck)})}
}

// methodNotAllowed answers 405 with Allow and an RFC 6749 §5.2 error body.
func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
	})
}

// refreshSecrets holds the refresh-token secrets, the current one first.
func refreshSecrets(ks []versionedKey) (*session.Secrets, error) {
	secrets := make([]session.Secret, len(ks))
	for i, k := range ks {
		secrets[i] = session.Secret{Version: k.version, Value: k.secret}
	}
	return session.NewSecrets(secrets[0], secrets[1:]...)
}

// signingKeys holds the HS256 signing keys, the current one first (it
// signs; the others verify). Version v is the key id "example-v" in the
// tokens' kid header.
func signingKeys(ks []versionedKey) (*keys.Set, error) {
	set := make([]*keys.Key, len(ks))
	for i, k := range ks {
		var err error
		if set[i], err = keys.NewHS256(fmt.Sprintf("example-%d", k.version), k.secret); err != nil {
			return nil, fmt.Errorf("signing key version %d: %w", k.version, err)
		}
	}
	return keys.NewSet(set...)
}

// event counts a session event (the service logs it).
func (a *app) event(_ context.Context, e jwtrefresh.Event) {
	a.counts.Add(counterNames[e.Kind], 1)
}

// login checks a demo user's password and starts a session. It takes
// {"username","password"} as JSON (or the same fields form-encoded) and
// answers like a token endpoint: 200 with the token response; 400
// invalid_request for a malformed body or a missing field; 400
// invalid_grant for an unknown user or a wrong password; 400
// invalid_dpop_proof for a bad DPoP proof, or none when DPoP is required;
// 413, 415; 503 when Redis is unavailable. A valid DPoP header binds the
// session to the proof's key.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	name, password, err := credentials(r)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the request body is too large")
		return
	case errors.Is(err, errContentType):
		writeError(w, http.StatusUnsupportedMediaType, "invalid_request", "the content type must be application/json or application/x-www-form-urlencoded")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid_request", "the request body is malformed")
		return
	case name == "" || password == "":
		writeError(w, http.StatusBadRequest, "invalid_request", "username and password are required")
		return
	}
	jkt, err := a.svc.DPoPThumbprint(r) // as the token endpoint checks it
	switch {
	case err != nil:
		a.svc.WriteError(w, r, err)
		return
	case jkt == "" && a.dpop == "required":
		writeError(w, http.StatusBadRequest, "invalid_dpop_proof", "this server requires a DPoP proof")
		return
	}
	u, ok := users[name]
	if !checkPassword(u, ok, password) {
		a.log.Info("login refused: unknown user or wrong password")
		writeError(w, http.StatusBadRequest, "invalid_grant", "unknown user or wrong password")
		return
	}
	tr, err := a.svc.Login(r.Context(), session.NewSession{
		Subject:       name,
		Claims:        u.claims,
		Client:        jwtrefresh.ClientInfoFrom(r),
		KeyThumbprint: jkt, // "" without a proof: an unbound session
	})
	if err != nil {
		a.svc.WriteError(w, r, err)
		return
	}
	a.svc.WriteTokenResponse(w, r, tr)
}

var errContentType = errors.New("unsupported content type")

func credentials(r *http.Request) (name, password string, err error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		var c struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&c); err != nil {
			return "", "", err
		}
		if _, err := dec.Token(); err != io.EOF {
			return "", "", errors.New("data after the JSON object")
		}
		return c.Username, c.Password, nil
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return "", "", err
		}
		if len(r.PostForm["username"]) > 1 || len(r.PostForm["password"]) > 1 {
			return "", "", errors.New("repeated field")
		}
		return r.PostForm.Get("username"), r.PostForm.Get("password"), nil
	}
	return "", "", errContentType
}

// checkPassword compares in constant time, and takes as long for an
// unknown user, so that timing tells nothing about either.
func checkPassword(u user, known bool, password string) bool {
	got := sha256.Sum256([]byte(password))
	ok := subtle.ConstantTimeCompare(got[:], u.passwordHash[:]) == 1
	return ok && known
}

// me answers who the access token belongs to.
func (a *app) me(w http.ResponseWriter, r *http.Request) {
	c, err := middleware.ClaimsAs[struct {
		middleware.Claims
		Name string `json:"name"`
	}](r.Context())
	if err != nil { // unreachable behind the middleware
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	verified, _ := middleware.ClaimsFrom(r.Context())
	writeJSON(w, http.StatusOK, struct {
		Sub     string    `json:"sub"`
		SID     string    `json:"sid"`
		Name    string    `json:"name,omitempty"`
		Expires time.Time `json:"expires"`
		Bound   bool      `json:"dpop_bound"` // to the client's DPoP key
	}{c.Subject, c.SessionID, c.Name, c.ExpiresAt.UTC(), verified.KeyThumbprint != ""})
}

// echo answers with the request body (up to 1 MiB) and its Content-Type.
func (a *app) echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEchoBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the request body is larger than 1 MiB")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid_request", "the request body could not be read")
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// vars serves the published expvar variables like expvar.Handler, except
// "cmdline": the command line may carry -signing-key or -refresh-key.
func vars(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, "{\n")
	first := true
	expvar.Do(func(kv expvar.KeyValue) {
		if kv.Key == "cmdline" {
			return
		}
		if !first {
			fmt.Fprint(w, ",\n")
		}
		first = false
		fmt.Fprintf(w, "%q: %s", kv.Key, kv.Value)
	})
	fmt.Fprint(w, "\n}\n")
}

// writeError writes an RFC 6749 §5.2-style error body.
func writeError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
