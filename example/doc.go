// Package example holds the runnable example programs of jwtrefresh and
// their end-to-end tests. It has no API of its own.
//
//   - server: a demo API that issues, refreshes, revokes and verifies
//     tokens (POST /login, the token endpoints under /auth/, protected
//     /api/me and /api/echo, counters at /debug/vars).
//   - client: a Go program that logs in and runs concurrent requests
//     across several access-token expiries through transport.Transport
//     (or, with -burst, a burst of requests with an expired token), then
//     prints what the transport did.
//   - cli: a command-line tool (login, get, post, sessions, logout,
//     logout-all) that keeps its session in a token file shared safely by
//     parallel invocations, and sends it only to the server it came from.
//
// demo.sh (make demo) runs all three and tells the story: expiry,
// proactive refresh, a burst of 401s sharing one refresh, rotation, and
// reuse detection logging a thief out together with every device of the
// user. Each program's flags, environment variables, output
// and exit codes are documented in its package comment; they are a
// contract that scripts and tests rely on.
package example
