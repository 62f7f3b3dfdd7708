package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jwtrefresh/jwtrefresh/example/internal/session"
	"github.com/jwtrefresh/jwtrefresh/transport"
)

// maxBody bounds what post reads from standard input: the body is held in
// memory so that the transport can send it again after a refresh.
const maxBody = 1 << 20

func loginCommand() *command {
	var user, device string
	return &command{
		args: "-user NAME [-device NAME]",
		help: "log in; the password is read from the terminal, or from the first line of standard input",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&user, "user", "", "the user `name` (demo users: alice, bob)")
			fs.StringVar(&device, "device", "", "a `name` for this device in the session list (e.g. laptop)")
		},
		run: func(ctx context.Context, c *cli, _ []string) error {
			if user == "" {
				return usagef("login: -user is required")
			}
			ua := userAgent
			if device != "" {
				// The server lists a session by the User-Agent of its login:
				// a comment in it (RFC 9110 §10.1.5) tells the devices apart.
				if len(device) > 32 || strings.ContainsFunc(device, func(r rune) bool { return r < ' ' || r > '~' || r == '(' || r == ')' }) {
					return usagef("login: -device %q: want at most 32 printable ASCII characters, no parentheses", device)
				}
				ua += " (" + device + ")"
			}
			rt, err := c.transport()
			if err != nil {
				return err
			}
			password, err := readPassword(c.env, user)
			if err != nil {
				return err
			}
			// With DPoP, the login request carries a proof by the key that
			// rt.Login then stores beside the token file.
			tok, err := session.Login(ctx, &http.Client{Transport: rt.LoginTransport()}, session.Request{
				Server: c.server, User: user, Password: password, UserAgent: ua,
			})
			if err != nil {
				return err
			}
			// Records the server's token endpoint in the file: see origin.go.
			if err := rt.Login(ctx, tok); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "logged in as %s at %s (session saved in %s)\n", user, serverOf(c.url), c.file)
			return nil
		},
	}
}

func postCommand() *command {
	var contentType string
	return &command{
		args: "[-type TYPE] PATH",
		help: "POST standard input to PATH and print the response body",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&contentType, "type", "application/json", "the body's Content-Type")
		},
		nargs: 1,
		run: func(ctx context.Context, c *cli, args []string) error {
			body, err := io.ReadAll(io.LimitReader(c.stdin, maxBody+1))
			if err != nil {
				return fmt.Errorf("reading standard input: %w", err)
			}
			if len(body) > maxBody {
				return fmt.Errorf("the body on standard input is larger than %d bytes", maxBody)
			}
			return c.call(ctx, http.MethodPost, args[0], contentType, body, c.stdout)
		},
	}
}

func get(ctx context.Context, c *cli, args []string) error {
	return c.call(ctx, http.MethodGet, args[0], "", nil, c.stdout)
}

func sessions(ctx context.Context, c *cli, _ []string) error {
	var buf bytes.Buffer
	if err := c.call(ctx, http.MethodGet, "/auth/sessions", "", nil, &buf); err != nil {
		return err
	}
	var list struct {
		Sessions []struct {
			ID        string    `json:"id"`
			Current   bool      `json:"current"`
			Created   time.Time `json:"created"`
			LastUsed  time.Time `json:"last_used"`
			UserAgent string    `json:"user_agent"`
			IP        string    `json:"ip"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal(buf.Bytes(), &list); err != nil {
		return fmt.Errorf("GET /auth/sessions: unexpected answer: %w", err)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SESSION\tCREATED\tLAST USED\tCLIENT")
	const layout = "2006-01-02 15:04:05"
	for _, s := range list.Sessions {
		mark := " "
		if s.Current {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\n", mark, s.ID, s.Created.Local().Format(layout),
			s.LastUsed.Local().Format(layout), strings.TrimSpace(s.UserAgent+" "+s.IP))
	}
	return tw.Flush()
}

func logoutAll(ctx context.Context, c *cli, _ []string) error {
	var buf bytes.Buffer
	if err := c.call(ctx, http.MethodPost, "/auth/logout-all", "", nil, &buf); err != nil {
		return err
	}
	var out struct {
		Revoked int `json:"revoked"`
	}
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		return fmt.Errorf("POST /auth/logout-all: unexpected answer: %w", err)
	}
	if err := c.store.Clear(ctx); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "logged out of %d session(s), on every device\n", out.Revoked)
	return nil
}

// logout revokes the session at the server (RFC 7009) before it deletes
// the token file: a file deleted first would leave a live session nobody
// can end. Any generation of the refresh token ends its session. A
// session of another server is not sent, and its file is kept.
func logout(ctx context.Context, c *cli, _ []string) error {
	rt, tok, err := c.session(ctx)
	if errors.Is(err, errNotLoggedIn) {
		fmt.Fprintln(c.stdout, "not logged in")
		return nil
	}
	if err != nil {
		return err
	}
	token := tok.RefreshToken
	if token == "" {
		token = tok.AccessToken
	}
	if err := session.Revoke(ctx, http.DefaultClient, c.server, userAgent, token); err != nil {
		return fmt.Errorf("logout: %w (the token file was kept: try again)", err)
	}
	if err := rt.Logout(ctx); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "logged out")
	return nil
}

// call sends an authenticated request to path on the server and copies a
// 2xx answer's body to out. Any other answer is an error describing it.
func (c *cli) call(ctx context.Context, method, path, contentType string, body []byte, out io.Writer) error {
	if !strings.HasPrefix(path, "/") {
		return usagef("%s: the path must start with /, like /api/me", strings.ToLower(method))
	}
	// No session saved, or none of this server: say so without asking the
	// server. (The Transport checks every load of the file again.)
	rt, _, err := c.session(ctx)
	if err != nil {
		return err
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body) // replayable: http.NewRequest sets GetBody
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, r)
	if err != nil {
		return usagef("%s %s: %v", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if errors.Is(err, transport.ErrForeignToken) {
		return c.otherServer(ctx) // the file was replaced meanwhile
	}
	if err != nil {
		return unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return errors.New(describe(req, resp))
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

// unwrapURLError drops the *url.Error around a transport error: its text
// repeats the method and URL, and the transport's own error says it all.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && (errors.Is(err, transport.ErrLoginRequired) || errors.Is(err, transport.ErrRefreshUnavailable)) {
		return ue.Err
	}
	return err
}

// describe turns a non-2xx answer into one line: the request, the status
// and, when the body is an RFC 6749/6750 error object, its description.
func describe(req *http.Request, resp *http.Response) string {
	msg := fmt.Sprintf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e) == nil && e.Error != "" {
		msg += ": " + e.Error
		if e.Description != "" {
			msg += ": " + e.Description
		}
	}
	return msg
}
