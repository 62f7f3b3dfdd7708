// openid-client (v6) against the example server (go run ./example/server).
// It needs a client id (any: the server does not check it) and, over plain
// http such as the demo's, allowInsecureRequests; then refresh, rotation
// and RFC 7009 revocation work as they are.
import * as client from 'openid-client';
import common from './common.js';

const { server, login, check, done } = common;

async function outcome(p) {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    return { ok: false, detail: `${err.code || ''} ${err.error || ''} ${err.message}`.trim() };
  }
}

const metadata = {
  issuer: server,
  token_endpoint: `${server}/auth/refresh`,
  revocation_endpoint: `${server}/auth/revoke`,
};

const noId = await outcome((async () => new client.Configuration(metadata, ''))());
check('a Configuration needs a client id', !noId.ok, noId.detail);

const config = new client.Configuration(metadata, 'demo'); // public client: None()
const tok = await login();
const refused = await outcome(client.refreshTokenGrant(config, tok.refresh_token));
check('plain http is refused without allowInsecureRequests', !refused.ok, refused.detail);

client.allowInsecureRequests(config);
const refreshed = await outcome(client.refreshTokenGrant(config, tok.refresh_token));
check('refresh succeeds', refreshed.ok, refreshed.detail);
check('the refresh token rotated', refreshed.ok && refreshed.value.refresh_token !== tok.refresh_token);

const revoked = await outcome(client.tokenRevocation(config, refreshed.value.refresh_token));
check('RFC 7009 revocation accepts the empty 200', revoked.ok, revoked.detail);
const after = await outcome(client.refreshTokenGrant(config, refreshed.value.refresh_token));
check('the revoked session no longer refreshes (invalid_grant)', !after.ok && after.detail.includes('invalid_grant'), after.detail);
done();
