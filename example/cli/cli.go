package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jwtrefresh/jwtrefresh/transport"
)

// Exit statuses: a documented contract.
const (
	exitOK      = 0
	exitFailure = 1
	exitLogin   = 2 // the session needs a new login
)

// Defaults of the global flags.
const (
	defaultServer = "http://127.0.0.1:8080"
	tokenDir      = "jwtrefresh-example"
	tokenName     = "token.json"
	userAgent     = "jwtrefresh-example-cli"
	// commandTimeout bounds a whole invocation, refreshes included.
	commandTimeout = 2 * time.Minute
)

// env is the process environment, replaced in tests.
type env struct {
	getenv func(string) string
	stdin  io.Reader // a terminal when it is an *os.File that is one
	stdout io.Writer
	stderr io.Writer
}

// cli is one invocation: its environment and resolved global flags.
type cli struct {
	env
	server string          // base URL, no trailing slash
	url    *url.URL        // server, parsed
	store  transport.Store // the token file's
	file   string          // its absolute path
	dpop   bool            // a login binds the session to a key pair (DPoP)
}

// command is one subcommand.
type command struct {
	args  string // synopsis of its arguments
	help  string
	flags func(fs *flag.FlagSet) // its own flags; nil for none
	run   func(ctx context.Context, c *cli, args []string) error
	nargs int // exact number of positional arguments
}

var commands map[string]*command

func init() {
	// Assigned in init: the commands refer to usage, which reads this map.
	commands = map[string]*command{
		"login":      loginCommand(),
		"get":        {args: "PATH", help: "GET PATH and print the response body", run: get, nargs: 1},
		"post":       postCommand(),
		"sessions":   {help: "list the user's sessions (* marks this one)", run: sessions},
		"logout":     {help: "end this session and delete the token file", run: logout},
		"logout-all": {help: "end every session of the user, on every device", run: logoutAll},
	}
}

// errNotLoggedIn: no session is saved.
var errNotLoggedIn = fmt.Errorf("not logged in: %w", transport.ErrLoginRequired)

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// globals holds the values of the global flags, which may be given before
// or after the command name.
type globals struct {
	server, tokenFile string
	dpop              bool
}

// register defines the global flags on fs, keeping the values already
// parsed before the command name.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.server, "server", g.server, "the server's base `URL` (env SERVER_URL; default "+defaultServer+")")
	fs.StringVar(&g.tokenFile, "token-file", g.tokenFile, "the session's `file` (env TOKEN_FILE; default "+filepath.Join("<config dir>", tokenDir, tokenName)+")")
	fs.BoolVar(&g.dpop, "dpop", g.dpop, "login: bind the session to a key pair kept beside the token file (DPoP); -dpop=false for Bearer tokens")
}

// run runs one invocation and returns its exit status.
func run(ctx context.Context, args []string, e env) int {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	err := dispatch(ctx, args, e)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errNotLoggedIn):
		fmt.Fprintln(e.stderr, "cli: not logged in: run login (cli login -user NAME)")
		return exitLogin
	case errors.Is(err, errUnbound):
		fmt.Fprintf(e.stderr, "cli: %v: run login\n", err)
		return exitLogin
	case errors.Is(err, transport.ErrLoginRequired):
		fmt.Fprintln(e.stderr, "cli: the session has ended (logged out, revoked or expired): run login")
		return exitLogin
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "cli: %v\nRun 'cli -h' for usage.\n", err)
		return exitFailure
	}
	fmt.Fprintf(e.stderr, "cli: %v\n", err)
	return exitFailure
}

func dispatch(ctx context.Context, args []string, e env) error {
	g := globals{dpop: true}
	fs := newFlagSet("cli", e)
	g.register(fs)
	fs.Usage = func() { usage(e.stderr) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("no command given")
	}
	name := fs.Arg(0)
	cmd, ok := commands[name]
	if !ok {
		return usagef("unknown command %q", name)
	}
	cfs := newFlagSet("cli "+name, e)
	g.register(cfs)
	if cmd.flags != nil {
		cmd.flags(cfs)
	}
	cfs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: cli %s %s\n\n%s.\n\nflags:\n", name, cmd.args, cmd.help)
		cfs.PrintDefaults()
	}
	if err := cfs.Parse(fs.Args()[1:]); err != nil {
		return err
	}
	if cfs.NArg() != cmd.nargs {
		return usagef("%s: want %d argument(s) (%s), got %d", name, cmd.nargs, cmd.args, cfs.NArg())
	}
	c, err := newCLI(e, g)
	if err != nil {
		return err
	}
	return cmd.run(ctx, c, cfs.Args())
}

// newFlagSet returns a flag set that reports errors instead of exiting:
// the flag package's exit status for a bad flag is 2, which here means
// "run login".
func newFlagSet(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// newCLI resolves the global flags: a flag, else its environment variable,
// else the default.
func newCLI(e env, g globals) (*cli, error) {
	server := first(g.server, e.getenv("SERVER_URL"), defaultServer)
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, usagef("-server %q: want an http or https URL such as %s", server, defaultServer)
	}
	path := first(g.tokenFile, e.getenv("TOKEN_FILE"))
	if path == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return nil, fmt.Errorf("no configuration directory (%v): give -token-file or TOKEN_FILE", err)
		}
		path = filepath.Join(dir, tokenDir, tokenName)
	}
	store, err := transport.NewFileStore(path)
	if err != nil {
		return nil, err
	}
	file, err := filepath.Abs(path) // as the store has it
	if err != nil {
		return nil, err
	}
	return &cli{env: e, server: strings.TrimSuffix(server, "/"), url: u, store: store, file: file, dpop: g.dpop}, nil
}

func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: cli [-server URL] [-token-file PATH] [-dpop=false] COMMAND [ARGS]

commands:
`)
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := commands[name]
		fmt.Fprintf(w, "  %-22s %s\n", strings.TrimSpace(name+" "+c.args), c.help)
	}
	fmt.Fprintf(w, `
global flags (before or after the command):
  -server URL           the server's base URL (env SERVER_URL; default %s)
  -token-file PATH      the session's file (env TOKEN_FILE; default %s
                        under the user's configuration directory)
  -dpop=false           log in with Bearer tokens; by default a login binds the
                        session to a key pair (DPoP), kept in a 0600 file beside
                        the token file

exit status: 0 success; 2 the session needs a new login ("run login"); 1 any other failure
`, defaultServer, filepath.Join(tokenDir, tokenName))
}
