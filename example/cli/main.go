// Command cli is a command-line client of the demo server (example/server):
// it logs in once, keeps the session in a token file, and makes the
// access token's expiry invisible to every later command through
// transport.Transport and a file store (transport.NewFileStore).
//
// Usage:
//
//	cli [-server URL] [-token-file PATH] [-dpop=false] COMMAND [ARGS]
//
//	login -user NAME [-device NAME]
//	                   log in; the password is read from the terminal
//	                   without echo, or from the first line of standard
//	                   input when it is not a terminal; -device names this
//	                   device in the session list (its User-Agent)
//	get PATH           GET PATH (e.g. /api/me) and print the response body
//	post PATH          POST standard input to PATH (-type sets its
//	                   Content-Type, default application/json) and print
//	                   the response body
//	sessions           list the user's sessions (* marks this one)
//	logout             end this session (POST /auth/revoke) and delete
//	                   the token file
//	logout-all         end every session of the user, on every device
//	                   (POST /auth/logout-all), and delete the token file
//
// The global flags may also follow the command name:
//
//	-server URL        the server's base URL (environment SERVER_URL;
//	                   default http://127.0.0.1:8080)
//	-token-file PATH   the session's file (environment TOKEN_FILE; default
//	                   jwtrefresh-example/token.json under the user's
//	                   configuration directory, os.UserConfigDir)
//	-dpop=false        log in with Bearer tokens; by default login binds the
//	                   session to a key pair made for it (DPoP, RFC 9449),
//	                   which the token file's store keeps in a 0600 file
//	                   beside it (token.json.dpop-<thumbprint>.key): a
//	                   token copied from the file alone is useless
//
// Output: response bodies and results on standard output; errors on
// standard error, one line each, starting with "cli:".
//
// A session is sent only to the server it was logged in to: login records
// that server's token endpoint in the token file ("refresh_url", written
// by transport.Transport.Login and kept at every refresh), and a command
// given another -server stops before it sends anything (exit status 1),
// naming both. A token file without that record (older than it, or
// written by hand) is not sent anywhere either: it needs a new login.
//
// Exit status: 0 on success; 2 when the session needs a new login (none
// saved, ended, revoked or expired, or no record of its server): the
// message then contains "run login"; 1 for every other failure, including
// usage errors, a session of another server, and HTTP answers other than
// 2xx.
//
// Invocations running at the same time share the token file safely: the
// file is locked while a refresh token is redeemed, so that one refresh
// serves them all and no refresh token is spent twice (which the server
// would take for theft).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}
