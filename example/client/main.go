// Command client shows a Go program whose requests never notice that
// access tokens expire: it logs in to the demo server (example/server),
// then runs concurrent workers for a while, across several access-token
// expiries, through one http.Client whose Transport is a
// transport.Transport. At the end it revokes its session and prints what
// it saw.
//
// Each worker sends GET /api/me and POST /api/echo (a body, which the
// transport can send again after a refresh) in turn, pausing -interval
// between requests.
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
//
// Output: a line per refresh while it runs, then a readable summary whose
// last line is machine-readable:
//
//	requests=N unauthorized=N refreshes=N retries=N failures=N
//
// requests counts the workers' requests; unauthorized the 401 answers the
// transport acted on; refreshes the token refreshes it made; retries the
// requests it sent again after a 401; failures the requests that did not
// end in a 2xx answer with the expected body.
//
// Exit status: 0 when no request failed; 2 when the session ended and the
// user must log in again; 1 otherwise (including a failed login).
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
)

const (
	exitOK      = 0
	exitFailure = 1
	exitLogin   = 2
)

type config struct {
	server, user, password string
	workers                int
	duration, interval     time.Duration
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
	tok, err := session.Login(ctx, http.DefaultClient, session.Request{
		Server: cfg.server, User: cfg.user, Password: cfg.password, UserAgent: userAgent,
	})
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "logged in as %s; the access token lives %ds\n", cfg.user, tok.ExpiresIn)

	res, err := load(ctx, cfg, tok, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return exitFailure
	}
	var logoutErr error
	if !res.loginRequired {
		// A finished program ends its session rather than leave it live.
		tok, err := res.store.Load(ctx)
		if err == nil {
			err = session.Revoke(ctx, http.DefaultClient, cfg.server, userAgent, tok.RefreshToken)
		}
		if err != nil {
			logoutErr = err
			fmt.Fprintf(stderr, "client: logging out: %v\n", err)
		} else {
			fmt.Fprintln(stdout, "logged out: the session is revoked")
		}
	}
	res.print(stdout, cfg)
	switch {
	case res.loginRequired:
		fmt.Fprintln(stderr, "client: the session has ended (revoked or expired): log in again")
		return exitLogin
	case res.failures > 0, logoutErr != nil:
		return exitFailure
	}
	return exitOK
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
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.workers < 1 || cfg.workers > 1000:
		return cfg, fmt.Errorf("-workers %d: want 1 to 1000", cfg.workers)
	case cfg.duration <= 0:
		return cfg, fmt.Errorf("-duration %v: want a positive duration", cfg.duration)
	case cfg.interval < 0:
		return cfg, fmt.Errorf("-interval %v: negative", cfg.interval)
	}
	return cfg, nil
}
