// Helpers shared by the Node scripts: the example server's address and a
// login through its POST /login, which answers an RFC 6749 token response.
'use strict';

const server = (process.env.SERVER_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');

async function login(username = 'alice', password = 'wonderland') {
  const resp = await fetch(`${server}/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (resp.status !== 200) {
    throw new Error(`login: ${resp.status} ${await resp.text()}`);
  }
  return resp.json();
}

// check prints one observation and remembers whether it held.
let failed = false;
function check(what, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
  if (!ok) failed = true;
}

function done() {
  process.exitCode = failed ? 1 : 0;
}

module.exports = { server, login, check, done };
