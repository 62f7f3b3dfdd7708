package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrefresh/jwtrefresh/transport"
)

// A session is sent only to the server it came from. The token file holds
// tokens only (the FileStore rewrites it at every refresh), so login
// records the server's origin beside it, in PATH.origin, together with the
// session's id (the access token's sid claim, which stays the same across
// refreshes). Every read of the session checks both: a record that names
// another origin stops the command before anything is sent, and a record
// written for another session (a login that replaced the tokens but not
// yet the record, or files copied from different places) is no record.

// errUnbound: the session has no valid record of its server.
var errUnbound = errors.New("the session does not record which server it belongs to")

// otherServerError: -server is not the server the session belongs to.
type otherServerError struct {
	file, recorded, given string
}

func (e *otherServerError) Error() string {
	return fmt.Sprintf("the session in %s belongs to %s, not %s; nothing was sent. Use -server %s, or log in to %s to replace the session",
		e.file, e.recorded, e.given, e.recorded, e.given)
}

// record is the content of PATH.origin.
type record struct {
	Origin    string `json:"origin"`
	SessionID string `json:"sid,omitempty"`
}

// boundStore is the CLI's token store: the token file, whose session it
// hands out (to the commands and to the Transport, at each load) only for
// the server recorded at login. Save, Clear and Lock are the FileStore's.
type boundStore struct {
	*transport.FileStore
	origin string // of -server
}

func newBoundStore(path string, server *url.URL) (*boundStore, error) {
	fs, err := transport.NewFileStore(path)
	if err != nil {
		return nil, err
	}
	return &boundStore{FileStore: fs, origin: origin(server)}, nil
}

func (s *boundStore) recordPath() string { return s.Path() + ".origin" }

// Load returns the stored session if it belongs to the origin of -server:
// otherwise an *otherServerError, or an error wrapping errUnbound.
func (s *boundStore) Load(ctx context.Context) (*transport.Token, error) {
	tok, err := s.FileStore.Load(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.readRecord()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w", s.Path(), errUnbound)
	case err != nil:
		return nil, err
	case r.SessionID != sessionID(tok):
		return nil, fmt.Errorf("%s: %w (its record, %s, is another session's)", s.Path(), errUnbound, s.recordPath())
	case r.Origin != s.origin:
		return nil, &otherServerError{file: s.Path(), recorded: r.Origin, given: s.origin}
	}
	return tok, nil
}

// login saves a new session of the origin of -server: the tokens, then
// the record naming their session. A crash between the two leaves the
// old record, which does not match the new session: nothing is sent until
// the next login.
func (s *boundStore) login(ctx context.Context, tok *transport.Token) error {
	if err := s.Save(ctx, tok); err != nil {
		return err
	}
	data, err := json.Marshal(record{Origin: s.origin, SessionID: sessionID(tok)})
	if err != nil {
		return err
	}
	return writeFileAtomic(s.recordPath(), append(data, '\n'))
}

// logout forgets the session: the tokens, then their record.
func (s *boundStore) logout(ctx context.Context) error {
	if err := s.Clear(ctx); err != nil {
		return err
	}
	if err := os.Remove(s.recordPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *boundStore) readRecord() (*record, error) {
	path := s.recordPath()
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	// The token file's directory is safe (the FileStore checked it); the
	// record must be as safe as the token file, or a user who could
	// write it would choose where the session goes.
	if !fi.Mode().IsRegular() || (runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0) {
		return nil, fmt.Errorf("%w: %s is not a regular file of mode 0600; remove it and log in again", transport.ErrUnsafeTokenFile, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil || r.Origin == "" {
		return nil, fmt.Errorf("%s is not a record of a session's server; remove it and log in again", path)
	}
	return &r, nil
}

// origin is the RFC 6454 origin of u, lower case, without the scheme's
// default port: http://Example.com:80/x and http://example.com are one.
func origin(u *url.URL) string {
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host
}

// sessionID reads the sid claim of the access token, without verifying it
// (the server does that): it only ties the record to the session. A token
// that is not a JWT, or has no sid, has the empty id.
func sessionID(tok *transport.Token) string {
	var claims struct {
		jwt.RegisteredClaims
		SID string `json:"sid"`
	}
	if _, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, &claims); err != nil {
		return ""
	}
	return claims.SID
}

// writeFileAtomic replaces path with data, mode 0600, so that a crash
// leaves the old content or the new, never a mix.
func writeFileAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
