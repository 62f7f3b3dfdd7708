#!/usr/bin/env bash
# make demo: the whole story of jwtrefresh in about 20 seconds, with only
# Go installed. It builds the example programs, starts the demo server
# (in-process Redis, access tokens of 2 s, a reuse grace window of 2 s),
# runs the Go client across several expiries (proactive refresh), then in
# its burst mode (concurrent 401s, one refresh, retries), then lets a thief
# replay a used refresh token with the CLI once the grace window has
# passed: the server detects the reuse, revokes every session of the user,
# and every device is told to log in again. Last, a thief who has a
# DPoP-bound session's tokens but not its key is refused at the API and at
# the refresh endpoint, and the session goes on untouched.
#
# The script checks each outcome it announces and exits non-zero if one
# does not happen. It leaves nothing running: the server is stopped by its
# PID on every exit path.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
TTL=2   # access-token lifetime, seconds
GRACE=2 # reuse grace window, seconds (the library's default is 5)

work=$(mktemp -d "${TMPDIR:-/tmp}/jwtrefresh-demo.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then bold=$'\033[1m' dim=$'\033[2m' off=$'\033[0m'; else bold="" dim="" off=""; fi
step() { printf '\n%s%s%s\n' "$bold" "$*" "$off"; }
say() { printf '  %s\n' "$@"; }
show() { printf '  %s$ %s%s\n' "$dim" "$*" "$off"; }
indent() { sed 's/^/    /'; }
fail() { printf '\ndemo failed: %s\n' "$*" >&2; exit 1; }

# New lines of the server's log, session events and the listening line only.
log_seen=0
server_log() {
  local total
  total=$(wc -l <"$work/server.log")
  if [ "$total" -gt "$log_seen" ]; then
    tail -n "+$((log_seen + 1))" "$work/server.log" | head -n "$((total - log_seen))" |
      grep -E 'msg="session |msg=listening|msg="stopped' |
      sed -e 's/^time=[^ ]* //' -e 's/^/    server | /' || true
  fi
  log_seen=$total
}

# The programs, run from the work directory so that token files have short names.
cli() { (cd "$work" && ./bin/cli "$@"); }
client() { (cd "$work" && ./bin/client "$@"); }

# expect_login_required CMD...: runs the CLI and checks that it says "run
# login" and exits with status 2.
expect_login_required() {
  local status=0
  show "cli $*"
  cli "$@" >"$work/out" 2>&1 || status=$?
  indent <"$work/out"
  say "${dim}(exit status $status)${off}"
  [ "$status" -eq 2 ] && grep -q 'run login' "$work/out" ||
    fail "expected exit status 2 and \"run login\" from: cli $*"
}

printf '%sjwtrefresh demo%s: short-lived access tokens, one-time-use refresh tokens, reuse detection.\n' "$bold" "$off"
printf 'Building the example programs (server, client, cli)... '
"$GO" build -o "$work/bin/" ./example/server ./example/client ./example/cli
echo done.
SECONDS=0

step "1. Start the demo API server: in-process Redis, access tokens that live ${TTL}s."
say "-reuse-grace ${GRACE}s: a used refresh token presented again within ${GRACE}s of its use, before its" \
  "successor is used (two tabs or threads refreshing at once), gets that same successor; later, it is reuse."
show "server -addr 127.0.0.1:0 -access-ttl ${TTL}s -reuse-grace ${GRACE}s"
: >"$work/server.log" # exists before the server's shell redirects into it
# Without the server's settings from the caller's environment (a shell set
# up for the tests exports REDIS_URL): the demo is the in-process Redis.
env -u ADDR -u REDIS_URL -u REDIS_CLUSTER_ADDRS -u REDIS_SENTINEL_ADDRS -u REDIS_SENTINEL_MASTER \
  -u REDIS_REPLICA_ACK -u REDIS_REPLICA_ACK_TIMEOUT -u ACCESS_TTL -u REUSE_GRACE -u REUSE_POLICY \
  -u SESSION_CHECK -u DPOP -u PUBLIC_URL -u SIGNING_KEY -u REFRESH_KEY -u KEY_PREFIX \
  "$work/bin/server" -addr 127.0.0.1:0 -access-ttl "${TTL}s" -reuse-grace "${GRACE}s" 2>>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do
  grep -q 'msg=listening' "$work/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "the server did not start"; }
  sleep 0.1
done
url=$(sed -n 's/.*msg=listening url=\([^ ]*\).*/\1/p' "$work/server.log")
[ -n "$url" ] || fail "the server did not say where it listens"
server_log
export SERVER_URL=$url # read by the client and the CLI

step "2. A Go program: 8 workers call the API for 4s, across expiries of the access token."
say "Its http.Client sends every request through transport.Transport, which refreshes the token" \
  "shortly before it expires: one refresh shared by all 8 workers, and no request notices."
show "client -workers 8 -duration 4s"
client -workers 8 -duration 4s | tee "$work/client.out" | indent || fail "the client failed"
tail -n 1 "$work/client.out" | grep -q 'failures=0$' || fail "the client saw failures"
server_log

step "3. The protocol's other path: 8 requests at once with an expired access token."
say "The client logs in, waits until the access token has expired, then sends 8 requests at once" \
  "through a transport that was not told when the token expires (as with a server that sends no" \
  "expires_in), so it cannot refresh first. Each request draws a 401, the 401s share a single" \
  "refresh, and each request is sent again with the new token."
show "client -burst 8"
client -burst 8 | tee "$work/burst.out" | indent || fail "the burst failed"
tail -n 1 "$work/burst.out" | grep -q 'requests=8 unauthorized=8 refreshes=1 retries=8 failures=0$' ||
  fail "want 8 401s, 1 refresh and 8 retries that succeeded"
server_log

step "4. The CLI: alice logs in on her laptop and on her phone (two sessions)."
say "-device names the device in her session list (the CLI adds it to its User-Agent)."
show "echo wonderland | cli -token-file laptop/token.json login -user alice -device laptop"
echo wonderland | cli -token-file laptop/token.json login -user alice -device laptop | indent
show "echo wonderland | cli -token-file phone/token.json login -user alice -device phone"
echo wonderland | cli -token-file phone/token.json login -user alice -device phone | indent
show "cli -token-file laptop/token.json sessions"
cli -token-file laptop/token.json sessions | indent
server_log

step "5. A thief copies the laptop's session, key file and all (its refresh token is still unused)."
say "The CLI binds each login to a key pair (DPoP), kept beside the token file: whoever copies both" \
  "files, as from a stolen laptop, holds the session. Step 9 shows what a copy without the key gets."
show "cp -rp laptop stolen"
cp -rp "$work/laptop" "$work/stolen"

step "6. ${TTL}s later the access tokens have expired. The laptop's next request refreshes first:"
say "its refresh token is used up and replaced by a new one."
sleep "$TTL"
show "cli -token-file laptop/token.json get /api/me"
cli -token-file laptop/token.json get /api/me | indent
server_log

step "7. ${GRACE}s later, past the grace window, the thief uses the copy. Its access token has expired;"
say "its refresh token is the used one:"
sleep "$GRACE"
expect_login_required -token-file stolen/token.json get /api/me
server_log
say "A used refresh token came back: one of its two holders is not alice's device. The server" \
  "cannot tell which, so it revoked every session of alice (-reuse-policy user)."

step "8. Every device of alice must log in again, at its next request. The phone:"
expect_login_required -token-file phone/token.json get /api/me
say "The laptop too, although its access token (from step 6) has not expired yet: the server's" \
  "session check refuses the access tokens of a revoked session at once, and the refresh that" \
  "follows the 401 is refused as well."
expect_login_required -token-file laptop/token.json get /api/me

step "9. DPoP: a thief who has a session's tokens, but not its key, gets nothing."
say "alice logs in on her laptop again. The session is bound to a new key pair in a 0600 file" \
  "beside the token file; every request and refresh carries a proof signed with it."
show "echo wonderland | cli -token-file laptop/token.json login -user alice -device laptop"
echo wonderland | cli -token-file laptop/token.json login -user alice -device laptop | indent
show "ls laptop"
ls "$work/laptop" | grep -v '\.lock$' | indent
server_log
say "A thief obtains the token file alone (from a backup, a log, a proxy) and sends its access and" \
  "refresh tokens as Bearer tokens, as any client would:"
show "sed -e 's/\"token_type\":\"DPoP\"/\"token_type\":\"Bearer\"/' -e 's/,\"dpop_jkt\":\"[^\"]*\"//' laptop/token.json >thief/token.json"
mkdir -m 700 "$work/thief"
(umask 077 && sed -e 's/"token_type":"DPoP"/"token_type":"Bearer"/' -e 's/,"dpop_jkt":"[^"]*"//' \
  "$work/laptop/token.json" >"$work/thief/token.json")
status=0
show "cli -token-file thief/token.json get /api/me"
cli -token-file thief/token.json get /api/me >"$work/out" 2>&1 || status=$?
indent <"$work/out"
say "${dim}(exit status $status)${off}"
[ "$status" -ne 0 ] || fail "the thief's get succeeded"
server_log
grep -q 'msg="session dpop_refused"' "$work/server.log" || fail "the server did not refuse the thief's refresh"
say "The API refused the bound access token without a proof (401), and the refresh endpoint refused" \
  "the refresh token without a proof by the session's key: nothing was rotated or revoked."
say "alice's laptop goes on with its session, untouched:"
show "cli -token-file laptop/token.json get /api/me"
cli -token-file laptop/token.json get /api/me | tee "$work/me.out" | indent || fail "the laptop's session was harmed"
grep -q '"dpop_bound":true' "$work/me.out" || fail "the laptop's session is not DPoP-bound"
server_log

step "10. Stop the server (SIGTERM: a graceful shutdown)."
kill "$server_pid"
wait "$server_pid" || fail "the server exited with status $?"
server_pid=""
server_log

printf '\n%sDemo finished in %ss.%s Run it yourself: README.md, "Run the demo".\n' "$bold" "$SECONDS" "$off"
