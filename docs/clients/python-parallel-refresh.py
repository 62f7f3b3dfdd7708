"""Threads sharing one Python OAuth 2.0 session refresh in parallel.

Runs against the example server (go run ./example/server) with Debian's
python3-requests-oauthlib and python3-authlib. Four threads share one
session whose access token has expired; neither library locks around its
refresh nor sends an Idempotency-Key, so each thread presents the same
refresh token. The server's counters (GET /debug/vars) tell what it made of
the extra presentations: reuse detection (strict one-time use, the default),
or replays of the same new token (with a reuse grace window, -reuse-grace 5s).

    OAUTHLIB_INSECURE_TRANSPORT=1 SERVER_URL=http://localhost:8080 python3 python-parallel-refresh.py

It then revokes a session with authlib's revoke_token (RFC 7009). Exit
status 0 when each library refreshed in more than one thread and the
revocation worked (the behaviour docs/clients.md describes), 1 otherwise.
"""

import os
import sys
import threading
import time

import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from requests_oauthlib import OAuth2Session as OAuthlibSession

SERVER = os.environ.get("SERVER_URL", "http://localhost:8080").rstrip("/")
THREADS = 4


def login():
    resp = requests.post(SERVER + "/login", json={"username": "alice", "password": "wonderland"})
    resp.raise_for_status()
    tok = resp.json()
    tok.pop("expires_in")
    tok["expires_at"] = time.time() - 1  # the access token has expired
    return tok


def counters():
    return requests.get(SERVER + "/debug/vars").json()["sessions"]


def requests_oauthlib_session(tok, count):
    def saved(new):
        count.append(new["refresh_token"])

    return OAuthlibSession("demo", token=tok, auto_refresh_url=SERVER + "/auth/refresh", token_updater=saved)


def authlib_session(tok, count):
    def saved(new, refresh_token=None, access_token=None):
        count.append(new["refresh_token"])

    return AuthlibSession(token=tok, token_endpoint=SERVER + "/auth/refresh", update_token=saved)


def run(name, make):
    refreshed = []
    session = make(login(), refreshed)
    before = counters()
    gate = threading.Barrier(THREADS)
    outcomes = []

    def worker():
        gate.wait()
        try:
            outcomes.append(session.get(SERVER + "/api/me").status_code)
        except Exception as err:  # the library raises on invalid_grant
            outcomes.append(type(err).__name__)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = counters()
    delta = {k: after[k] - before[k] for k in ("refresh", "replay", "reuse") if after[k] != before[k]}
    print(f"{name}: {len(refreshed)} refreshes by {THREADS} threads; outcomes {sorted(map(str, outcomes))}; server {delta}")
    return len(refreshed) > 1 or delta.get("reuse", 0) > 0


def revocation():
    """authlib's revoke_token returns the response as it is: RFC 7009's empty 200 is fine."""
    tok = login()
    session = AuthlibSession(token=tok, token_endpoint=SERVER + "/auth/refresh")
    resp = session.revoke_token(SERVER + "/auth/revoke", token=tok["refresh_token"])
    again = requests.post(SERVER + "/auth/refresh", data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    print(f"authlib revoke_token: {resp.status_code} {resp.content!r}; a refresh afterwards: {again.status_code} {again.json()['error']}")
    return resp.status_code == 200 and again.status_code == 400


def main():
    ok = True
    for name, make in (("requests-oauthlib", requests_oauthlib_session), ("authlib", authlib_session)):
        ok = run(name, make) and ok
    ok = revocation() and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
