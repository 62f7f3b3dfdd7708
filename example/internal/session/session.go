// Package session holds the example programs' calls of the demo server
// that start and end a session: its login endpoint, which answers with an
// RFC 6749 §5.1 token response, and the RFC 7009 revocation endpoint.
package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/jwtrefresh/jwtrefresh/transport"
)

// ErrBadCredentials means the server refused the user name or password
// (400 invalid_grant).
var ErrBadCredentials = errors.New("wrong user name or password")

// Request is one login.
type Request struct {
	Server    string // base URL of the demo server
	User      string
	Password  string
	UserAgent string // names the program in the server's session list
}

// Login posts {"username","password"} as JSON to r.Server + "/login" and
// returns the session's tokens. A refusal of the credentials is
// ErrBadCredentials; any other non-200 answer wraps a
// *transport.ResponseError.
func Login(ctx context.Context, client *http.Client, r Request) (*transport.Token, error) {
	body, err := json.Marshal(struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}{r.User, r.Password})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(r.Server, "/")+"/login", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", r.UserAgent)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	tok, err := transport.ReadTokenResponse(resp) // closes the body
	var re *transport.ResponseError
	if errors.As(err, &re) && re.Code == "invalid_grant" {
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return tok, nil
}

// Revoke ends the session of token (a refresh token of any generation, or
// an access token) at server + "/auth/revoke" (RFC 7009). The server
// answers 200 also for a session that has already ended.
func Revoke(ctx context.Context, client *http.Client, server, userAgent, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(server, "/")+"/auth/revoke",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revoke: POST /auth/revoke: %s", resp.Status)
	}
	return nil
}
