// simple-oauth2 against the example server (go run ./example/server).
// Reproduces two settings it needs: client.secret '' (without it the
// client sends the secret "undefined", which the server refuses), and
// http.json 'force' for revocation (RFC 7009 answers 200 with an empty
// body and no Content-Type, which simple-oauth2's default json: 'strict'
// turns into an error).
'use strict';

const { ResourceOwnerPassword } = require('simple-oauth2');
const { server, login, check, done } = require('./common');

const auth = { tokenHost: server, tokenPath: '/auth/refresh', revokePath: '/auth/revoke' };

async function outcome(p) {
  try {
    await p;
    return 'ok';
  } catch (err) {
    const status = err.output && err.output.statusCode;
    const body = err.data && err.data.payload ? ` ${JSON.stringify(err.data.payload)}` : '';
    return `${status || ''} ${err.message}${body}`.trim();
  }
}

async function main() {
  // No secret configured: the Basic header carries "demo:undefined".
  let client = new ResourceOwnerPassword({ client: { id: 'demo' }, auth });
  let token = client.createToken(await login());
  const noSecret = await outcome(token.refresh());
  check('refresh without client.secret is refused (invalid_client)', noSecret.includes('invalid_client'), noSecret);

  // secret '' makes the header "demo:", which a public client may send.
  client = new ResourceOwnerPassword({ client: { id: 'demo', secret: '' }, auth });
  token = client.createToken(await login());
  let refreshed;
  const withEmpty = await outcome((async () => { refreshed = await token.refresh(); })());
  check("refresh with client.secret '' succeeds", withEmpty === 'ok', withEmpty);
  check('the refresh token rotated', refreshed && refreshed.token.refresh_token !== token.token.refresh_token);

  // Revocation with the default http options throws on the empty 200.
  const strict = await outcome(refreshed.revoke('refresh_token'));
  check('revoke() with the default json: strict throws on the empty 200', strict !== 'ok', strict);

  // json: 'force' reads the empty body as null.
  const forced = new ResourceOwnerPassword({ client: { id: 'demo', secret: '' }, auth, http: { json: 'force' } });
  token = forced.createToken(await login());
  const force = await outcome(token.revoke('refresh_token'));
  check("revoke() with http.json 'force' succeeds", force === 'ok', force);
  const after = await outcome(token.refresh());
  check('the revoked session no longer refreshes (invalid_grant)', after.includes('invalid_grant'), after);
}

main().then(done, (err) => { console.error(err); process.exitCode = 1; });
