// Package transport is the client half of jwtrefresh: an http.RoundTripper
// that makes access-token expiry invisible to the code using an
// http.Client, the token stores it keeps sessions in, and a client of the
// token endpoint.
//
// It works with any OAuth 2.0 server: it sends RFC 6750 §2.1 bearer tokens,
// reads RFC 6750 §3 / RFC 9110 §11.6.1 WWW-Authenticate challenges, and
// redeems refresh tokens with the RFC 6749 §6 refresh_token grant, reading
// RFC 6749 §5.1 token responses and §5.2 error responses. With a server
// that rotates refresh tokens (RFC 9700 §4.14) and honours an
// Idempotency-Key header, as jwtrefresh's token endpoint does, a lost
// response or a crash mid-refresh costs nothing.
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
// A command-line tool keeps the session in a file, which several
// invocations running at once can share, bound to a key pair (DPoP):
//
//	store, err := transport.NewFileStore(filepath.Join(dir, "token.json"))
//	rt, err := transport.New(tokenURL, store, transport.WithDPoP(transport.DPoP{}))
//	// at login: the login request carries a proof by a new key
//	resp, err := (&http.Client{Transport: rt.LoginTransport()}).Do(loginReq)
//	tok, err := transport.ReadTokenResponse(resp)
//	err = rt.Login(ctx, tok) // stores the tokens, and the key beside them
//	resp, err := (&http.Client{Transport: rt}).Get(apiURL)
//	if errors.Is(err, transport.ErrForeignToken) {
//		// the session belongs to another server: tokenURL changed
//	} else if errors.Is(err, transport.ErrLoginRequired) {
//		// ask the user to log in again
//	}
//
// # Requests
//
// A request to one of the origins (see WithOrigins) that carries no
// Authorization header of its own is sent as a clone with
// "Authorization: Bearer <access token>" (or DPoP with a proof, for a
// DPoP-bound session: see DPoP below); any other request, and a
// redirect to another origin, goes out untouched. The caller's request is
// never modified, and its body is always closed, also on errors. With an
// empty store, a request to an origin fails with ErrLoginRequired before
// it is sent (or goes out without a token, with WithAnonymous).
//
// # Refresh
//
// An access token within 30 s of its expiry (at most a quarter of its
// lifetime) is refreshed before the request is sent, lazily: there are no
// timers. A 401 whose Bearer challenge says the token is missing or
// invalid (any 401, with WithAnyUnauthorized) is handled once: if it
// answered tokens a refresh has replaced since, the request is sent again
// with the current ones (a stale 401); otherwise it joins the one refresh
// in flight, however many requests wait for it, and is sent again with
// the new token. A 401 to that second request is returned as is, and for
// a minute a 401 to those freshly refreshed tokens starts no refresh: a
// server that refuses them for another reason (a wrong audience, an
// unknown key) costs one refresh a minute, not one per request. A request
// whose body cannot be replayed (no Request.GetBody) is not sent again: its
// 401 is returned, and the next request uses the new token.
//
// A refresh is an RFC 6749 §6 refresh_token grant POSTed through the
// Endpoint (see WithEndpoint), never through the Transport itself. It runs
// detached from the requests waiting for it, bounded by its own timeout
// (30 s): a request whose context ends stops waiting, but the refresh,
// which the server may already have performed, completes and is saved.
//
// Each refresh carries a random Idempotency-Key, saved in the store with
// the tokens before the request is sent. An attempt whose outcome is
// unknown (a network error, a timeout, 5xx, 408, 429) is repeated with the
// same refresh token and key, with jittered backoff (4 attempts, 100 ms to
// 3 s, Retry-After honoured), and so is a refresh that a process killed
// mid-refresh left behind: a rotating server that honours the key answers
// with the same new tokens instead of detecting reuse.
//
// # Stores
//
// A Store keeps one session. A Store that is a Locker is locked across
// re-read → redeem → save, so that several Transports or processes
// sharing it redeem a refresh token once: a refresh that finds the store
// rotated by a peer adopts the peer's tokens, and one that finds it empty
// (a logout) ends the session. Login and Logout take the lock too, as do
// the Save and Clear of the stores this package makes, so that a login or
// a logout made while a refresh is in flight stands. A refresh reads the
// store once under the lock, saves the idempotency key, and saves the new
// tokens; a store that is a Versioner spares it a second read, made only
// when the store changed meanwhile (a writer that ignores the lock, such
// as someone deleting the token file, may have logged out or in).
//
// A Versioner also tells the Transport on every request whether the store
// changed, so that a login or logout saved elsewhere takes effect at the
// next request (within a second, for a file store). Custom stores, backed
// by the OS keyring for instance, may implement Locker and Versioner too.
//
// # Outcomes
//
// invalid_grant clears the store (unless a peer has rotated it meanwhile,
// whose tokens are adopted) and fails the request with an error wrapping
// ErrLoginRequired and the *ResponseError. So does a stored token that
// cannot be used. A session without a refresh token is used until its
// access token expires, then fails with ErrLoginRequired and is left as
// it is. Other failures keep the tokens: temporary ones wrap
// ErrRefreshUnavailable, no refresh is tried again before the server's
// Retry-After (or the maximum backoff) has passed, and a token that is not
// yet expired is still used meanwhile.
//
// Rotated tokens are saved before the new access token is used. If saving
// fails, or a Store does not answer within the refresh timeout, the
// Transport goes on with the new tokens from memory, never sends the old
// refresh token again, and reports the error (Hooks.SaveFailed and the
// logger). A Store call that does not return holds the store's lock until
// it does, so that nothing it writes late overwrites a later save.
//
// # DPoP
//
// With WithDPoP, sessions are sender-constrained (RFC 9449): the server
// binds the tokens of a login to a key pair, and the Transport proves
// possession of its private key with a DPoP proof (a JWT it signs: typ
// dpop+jwt, the public jwk, a random jti, htm, htu without query or
// fragment, iat, ath on resource requests, and the server's nonce) in a
// DPoP header on every refresh and every request to its origins, whose
// Authorization is then "DPoP <access token>". A token copied from a log,
// a proxy, a backup or a leaked store is then useless without the key.
// What it does not protect against: someone who can read both the token
// and the key (a stolen laptop with both files, a process running as the
// user), or who can make the client send requests.
//
// A session is bound at its login. The application sends the login
// request through LoginTransport, which signs a proof with a key pair made
// for this login (ES256 by default, or EdDSA; or the application's own
// DPoP.Key, a crypto.Signer that may live in an OS keyring or hardware),
// and passes the answer to Login, which stores the key with the tokens as
// Token.DPoPKey. NewMemoryStore keeps it in memory; NewFileStore in its
// own 0600 file beside the token file, named after the key's RFC 7638
// thumbprint, which the token file records. The key file is written
// before the token file and the keys of earlier sessions are removed
// after it, under the same lock, so that after a crash at any point the
// token file names a key file holding its key; a key file that is
// missing, unsafe or holds another key is refused like the token file. A
// custom Store must keep Token.DPoPKey too (it is not in Token's JSON
// form): Login saves, reads back and, if the key did not survive, clears
// the store and fails, rather than leave a session that cannot be used.
// A Transport without WithDPoP still uses a bound session it finds in its
// store, with the stored key.
//
// Every response's DPoP-Nonce is remembered per origin (RFC 9449 §8, §9)
// and goes into the next proofs there. An answer asking for a nonce, a
// use_dpop_nonce error from the token endpoint or challenge from a
// resource server, is followed by one more request with the nonce (its
// body sent again, as after a refresh), and that request's answer is
// returned as it is: a nonce retry never starts a refresh. A 401 whose
// DPoP challenge says invalid_token (or no error) refreshes like a
// Bearer one; invalid_dpop_proof does not.
//
// A token endpoint that answers a proof with a Bearer token does not
// support DPoP: the Transport goes on with Bearer tokens, unless
// DPoP.Required, which makes such a login fail and such a refresh end the
// session (ErrLoginRequired wrapping ErrInvalidResponse). Servers roll out
// from accepting DPoP to requiring it; clients with Required refuse a
// server that would silently downgrade them.
//
// # Sessions belong to their endpoint
//
// Login records the refresh endpoint in the stored token (Token.RefreshURL),
// and so does every save after a refresh. A Transport of another endpoint
// refuses such a token with ErrForeignToken: no request carries it and no
// refresh sends it, so a session saved for one server never reaches
// another (a command-line tool given another -server, say).
//
// # Panics
//
// The store is loaded, and tokens refreshed, on goroutines the Transport
// owns, where a panic would end the process. A panic there (in a Store, a
// hook, or the refresh RoundTripper) is recovered and logged with its
// stack, every request waiting for that load or refresh fails with an
// error wrapping ErrPanic, and the next request tries again. A panicking
// Save counts as a failed save.
//
// Nothing secret is logged: Token redacts itself in fmt and log/slog, and
// the package never writes a token, an idempotency key, or a token
// endpoint's error_description into a log line.
package transport
