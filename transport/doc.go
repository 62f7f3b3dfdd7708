// Package transport is the client half of jwtrefresh: an http.RoundTripper
// that makes access-token expiry invisible to the code using an
// http.Client, and the token stores it keeps sessions in.
//
// It works with any OAuth 2.0 server: it sends RFC 6750 §2.1 bearer tokens,
// reads RFC 6750 §3 / RFC 9110 §11.6.1 WWW-Authenticate challenges, and
// redeems refresh tokens with the RFC 6749 §6 refresh_token grant, reading
// RFC 6749 §5.1 token responses and §5.2 error responses. With a server
// that rotates refresh tokens (RFC 9700 §4.14) and honours an
// Idempotency-Key header, as jwtrefresh's token endpoint does, a lost
// response or a crash mid-refresh costs nothing: the refresh is repeated
// with the same key and the server answers with the same new tokens.
//
// A Go service wraps its client:
//
//	store := transport.NewMemoryStore(tok) // tok from the login response
//	rt, err := transport.New("https://api.example.com/auth/refresh", store,
//		// The list replaces the default, the refresh URL's origin:
//		// name it too if requests to it need the token.
//		transport.WithOrigins("https://api.example.com", "https://files.example.com"))
//	client := &http.Client{Transport: rt}
//
// A command-line tool keeps the session in a FileStore, which several
// invocations running at once can share:
//
//	store, err := transport.NewFileStore(filepath.Join(dir, "token.json"))
//	rt, err := transport.New(tokenURL, store)
//	err = rt.Login(ctx, tok) // at login: tok from ReadTokenResponse
//	resp, err := (&http.Client{Transport: rt}).Get(apiURL)
//	if errors.Is(err, transport.ErrForeignToken) {
//		// the session belongs to another server: tokenURL changed
//	} else if errors.Is(err, transport.ErrLoginRequired) {
//		// ask the user to log in again
//	}
//
// Login records the refresh endpoint in the stored token
// (Token.RefreshURL), and a Transport of another endpoint refuses to send
// it, so a session saved for one server never reaches another.
//
// See Transport for the exact behaviour: which requests get the token,
// which 401s start a refresh, how concurrent requests and processes share
// one refresh, and what each outcome does to the stored session.
package transport
