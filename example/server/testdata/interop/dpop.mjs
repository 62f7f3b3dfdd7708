// openid-client (v6), an independent DPoP implementation, against the
// example server at SERVER_URL: a login bound to its key (POST /login as a
// token request), refreshes with DPoP proofs, a protected route with the
// DPoP scheme, and what a thief holding the tokens but not the key gets.
// Run by TestOpenIDClientDPoP; prints one line per check, exits 1 on a
// failure.
import * as client from 'openid-client';

const server = process.env.SERVER_URL.replace(/\/$/, '');
let failed = false;
function check(what, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
  if (!ok) failed = true;
}
async function outcome(p) {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    return { ok: false, detail: `${err.code || ''} ${err.error || ''} ${err.message}`.trim() };
  }
}
function configFor(tokenEndpoint) {
  const c = new client.Configuration({ issuer: server, token_endpoint: tokenEndpoint }, 'demo');
  client.allowInsecureRequests(c); // the test server is plain http on loopback
  return c;
}
function jkt(accessToken) {
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString());
  return payload.cnf && payload.cnf.jkt;
}

const login = configFor(`${server}/login`);
const config = configFor(`${server}/auth/refresh`);
const me = new URL(`${server}/api/me`);

for (const alg of ['ES256', 'EdDSA', 'PS256']) {
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair(alg));
  const thief = client.getDPoPHandle(config, await client.randomDPoPKeyPair(alg));
  const thumbprint = await DPoP.calculateThumbprint();

  const tok = await outcome(client.genericGrantRequest(login, 'password',
    { username: 'alice', password: 'wonderland' }, { DPoP }));
  check(`${alg}: login with a proof`, tok.ok, tok.detail);
  if (!tok.ok) continue;
  check(`${alg}: token_type DPoP`, tok.value.token_type === 'dpop', tok.value.token_type);
  check(`${alg}: cnf.jkt is the key's thumbprint`, jkt(tok.value.access_token) === thumbprint);

  let res = await fetchMe(tok.value.access_token, DPoP);
  check(`${alg}: protected route with DPoP`, res.status === 200 && res.body.dpop_bound === true, `${res.status}`);

  const next = await outcome(client.refreshTokenGrant(config, tok.value.refresh_token, undefined, { DPoP }));
  check(`${alg}: refresh with DPoP`, next.ok && next.value.token_type === 'dpop' &&
    next.value.refresh_token !== tok.value.refresh_token, next.detail);
  if (!next.ok) continue;
  res = await fetchMe(next.value.access_token, DPoP);
  check(`${alg}: the refreshed token at the protected route`, res.status === 200, `${res.status}`);

  res = await fetchMe(next.value.access_token, undefined);
  check(`${alg}: the token as Bearer is refused`, res.status === 401, `${res.status}`);
  res = await fetchMe(next.value.access_token, thief);
  check(`${alg}: the token with another key is refused (invalid_dpop_proof)`,
    res.status === 401 && dpopError(res) === 'invalid_dpop_proof', `${res.status} ${dpopError(res)}`);
  for (const [name, opts] of [['no proof', undefined], ['another key', { DPoP: thief }]]) {
    const stolen = await outcome(client.refreshTokenGrant(config, next.value.refresh_token, undefined, opts));
    check(`${alg}: a refresh with ${name} is refused (invalid_grant)`, !stolen.ok && stolen.detail.includes('invalid_grant'), stolen.detail);
  }
  const again = await outcome(client.refreshTokenGrant(config, next.value.refresh_token, undefined, { DPoP }));
  check(`${alg}: the victim refreshes after the thief`, again.ok, again.detail);
}
process.exitCode = failed ? 1 : 0;

// fetchMe calls the protected route; a refusal's challenges are returned
// as openid-client parsed them from WWW-Authenticate.
async function fetchMe(accessToken, DPoP) {
  try {
    const resp = await client.fetchProtectedResource(config, accessToken, me, 'GET', null, undefined, DPoP ? { DPoP } : undefined);
    return { status: resp.status, body: await resp.json() };
  } catch (err) {
    if (err.code !== 'OAUTH_WWW_AUTHENTICATE_CHALLENGE') throw err;
    return { status: err.status, body: {}, challenges: err.cause };
  }
}
function dpopError(res) {
  const c = (res.challenges || []).find((ch) => ch.scheme === 'dpop');
  return c && c.parameters.error;
}
