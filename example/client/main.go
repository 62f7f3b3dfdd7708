// Command client shows a Go program whose requests never notice that
// access tokens expire: it logs in to the demo server (example/server),
// then runs concurrent workers for a while, across several access-token
// expiries, through one http.Client whose Transport is a
// transport.Transport. At the end it revokes its session and prints what
// it saw.
//
// Each worker sends GET /api/me and POST /api/echo (a body, which the
// transport can send again after a refresh) in turn, pausing -interval
// between requests. The transport refreshes each access token shortly
// before it expires, so the workers see no 401.
//
// With -burst N it shows the other path of the protocol instead: it waits
// until the access token has expired, then sends N requests (GET /api/me)
// at once through a transport that was not told when the token expires,
// so it cannot refresh first. Each request draws a 401; the transport
// makes one refresh for all of them (single flight) and sends each again
// with the new token. The N requests are held until all N are ready, so
// that they reach the server together: the counts are exact, N 401s, one
// refresh, N retries.
//
// Flags:
//
//	-server URL      the server's base URL (environment SERVER_URL; default
//	                 http://127.0.0.1:8080)
//	-user NAME       default alice
//	-password PW     default wonderland (alice's demo password)
//	-workers N       concurrent workers, default 8
//	-duration D      how long the workers run, default 10s
//	-interval D      pause between a worker's requests, default 20ms
//	-burst N         the burst mode, N requests (1 to 1000; not with the
//	                 three flags above)
//	-dpop            bind the session to a key pair made for it (DPoP,
//	                 RFC 9449), default true; -dpop=false for Bearer tokens
//
// With DPoP (the default), the login request goes through the Transport's
// LoginTransport, which signs a proof with a key pair made for this login;
// Transport.Login stores that key with the tokens (here in memory), and
// every request and refresh then carries a proof by it. A server that
// does not bind sessions answers Bearer tokens, which are used as such.
//
// Output: a line per refresh while it runs (with the number of requests
// completed by then, and of those in flight, which wait for the refresh or
// were sent before it), then a readable summary whose last line is
// machine-readable:
//
//	requests=N unauthorized=N refreshes=N retries=N failures=N
//
// requests counts the requests sent (by the workers, or the burst);
// unauthorized the 401 answers the transport acted on; refreshes the token
// refreshes it made; retries the requests it sent again after a 401;
// failures the requests that did not end in a 2xx answer with the expected
// body.
//
// SIGINT or SIGTERM end the run early: requests in flight complete, a
// login in flight completes, the session is revoked all the same (within
// 10 s) and the summary is printed.
//
// Exit status: 0 when no request failed, also after a signal; 2 when the
// session ended and the user must log in again; 1 otherwise (including a
// failed login or logout).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jwtrefresh/jwtrefresh/example/internal/session"
	"github.com/jwtrefresh/jwtrefresh/transport"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitLogin   = 2
)

const (
	// loginTimeout bounds the login, which a signal does not interrupt: a
	// session the server started must be known, to be revoked.
	loginTimeout = 30 * time.Second
	// logoutTimeout bounds the revocation at the end, after a signal too.
	logoutTimeout = 10 * time.Second
)

type config struct {
	server, user, password string
	workers, burst         int
	duration, interval     time.Duration
	dpop                   bool
}

// options are the Transport options every Transport of a run has.
func (cfg config) options() []transport.Option {
	if !cfg.dpop {
		return nil
	}
	return []transport.Option{transport.WithDPoP(transport.DPoP{})}
}

func main() {
	// An interrupt ends the run early; the summary is still printed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return exitFailure
	}
	// Ending on a signal (ctx done) must not leave a live session behind,
	// so the login and the revocation run detached from ctx, each bounded.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loginTimeout)
	tok, err := login(lctx, cfg)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "logged in as %s (%s); the access token lives %ds\n", cfg.user, tok.TokenType, tok.ExpiresIn)

	var res *result
	if cfg.burst > 0 {
		res, err = burst(ctx, cfg, tok, stdout)
	} else {
		res, err = load(ctx, cfg, tok, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		if rerr := revoke(ctx, cfg, transport.NewMemoryStore(tok)); rerr != nil {
			fmt.Fprintf(stderr, "client: logging out: %v\n", rerr)
		}
		return exitFailure
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stdout, "interrupted: stopped early")
	}
	res.print(stdout, cfg)
	var logoutErr error
	if !res.loginRequired {
		// A finished program ends its session rather than leave it live.
		if logoutErr = revoke(ctx, cfg, res.store); logoutErr != nil {
			fmt.Fprintf(stderr, "client: logging out: %v\n", logoutErr)
		} else {
			fmt.Fprintln(stdout, "logged out: the session is revoked")
		}
	}
	res.printCounts(stdout)
	switch {
	case res.loginRequired:
		fmt.Fprintln(stderr, "client: the session has ended (revoked or expired): log in again")
		return exitLogin
	case res.failures > 0, logoutErr != nil:
		return exitFailure
	}
	return exitOK
}

// login logs in, through the LoginTransport of a Transport on a store of
// its own, and returns the session as Transport.Login stored it: with
// DPoP, with the key its login request proved.
func login(ctx context.Context, cfg config) (*transport.Token, error) {
	store := transport.NewMemoryStore(nil)
	rt, err := transport.New(cfg.server+"/auth/refresh", store, cfg.options()...)
	if err != nil {
		return nil, err
	}
	tok, err := session.Login(ctx, &http.Client{Transport: rt.LoginTransport()}, session.Request{
		Server: cfg.server, User: cfg.user, Password: cfg.password, UserAgent: userAgent,
	})
	if err != nil {
		return nil, err
	}
	if err := rt.Login(ctx, tok); err != nil {
		// The server started a session that cannot be used: end it.
		_ = session.Revoke(ctx, http.DefaultClient, cfg.server, userAgent, tok.RefreshToken)
		return nil, err
	}
	return store.Load(ctx)
}

// revoke ends the session held in store at the server (RFC 7009). It runs
// detached from ctx, bounded by logoutTimeout: after a signal, ctx is
// done, and the revocation must still reach the server.
func revoke(ctx context.Context, cfg config, store transport.Store) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logoutTimeout)
	defer cancel()
	tok, err := store.Load(ctx)
	if err != nil {
		return err
	}
	return session.Revoke(ctx, http.DefaultClient, cfg.server, userAgent, tok.RefreshToken)
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	server := getenv("SERVER_URL")
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	fs.StringVar(&cfg.server, "server", server, "the server's base `URL` (env SERVER_URL)")
	fs.StringVar(&cfg.user, "user", "alice", "the user `name`")
	fs.StringVar(&cfg.password, "password", "wonderland", "the user's password")
	fs.IntVar(&cfg.workers, "workers", 8, "concurrent workers")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long the workers run")
	fs.DurationVar(&cfg.interval, "interval", 20*time.Millisecond, "pause between a worker's requests")
	fs.IntVar(&cfg.burst, "burst", 0, "burst mode: after the access token expired, send `N` requests at once with it (no proactive refresh)")
	fs.BoolVar(&cfg.dpop, "dpop", true, "bind the session to a key pair made for it (DPoP); -dpop=false for Bearer tokens")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var loadFlag string
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "workers" || f.Name == "duration" || f.Name == "interval" {
			loadFlag = f.Name
		}
	})
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.workers < 1 || cfg.workers > 1000:
		return cfg, fmt.Errorf("-workers %d: want 1 to 1000", cfg.workers)
	case cfg.duration <= 0:
		return cfg, fmt.Errorf("-duration %v: want a positive duration", cfg.duration)
	case cfg.interval < 0:
		return cfg, fmt.Errorf("-interval %v: negative", cfg.interval)
	case cfg.burst < 0 || cfg.burst > 1000:
		return cfg, fmt.Errorf("-burst %d: want 1 to 1000", cfg.burst)
	case cfg.burst > 0 && loadFlag != "":
		return cfg, fmt.Errorf("-burst and -%s: the burst sends its requests at once, without workers", loadFlag)
	}
	return cfg, nil
}
