// axios-auth-refresh against the example server (go run ./example/server).
// Five requests are in flight when their access token is refused (401).
// With the default options, the first 401 starts the refresh and pauses
// the instance: the 401s that arrive while it runs are not intercepted and
// reach the callers as errors. With deduplicateRefresh: false (and the
// refresh call marked skipAuthRefresh), they wait for the same refresh.
'use strict';

const axios = require('axios');
const { createAuthRefresh } = require('axios-auth-refresh');
const { server, login, check, done } = require('./common');

async function run(options) {
  const tok = await login();
  const state = { access: 'not-a-valid-token', refresh: tok.refresh_token, refreshes: 0 };
  const api = axios.create({ baseURL: server });
  api.interceptors.request.use((config) => {
    config.headers.Authorization = `Bearer ${state.access}`;
    return config;
  });
  createAuthRefresh(api, async () => {
    state.refreshes++;
    const resp = await api.post('/auth/refresh',
      new URLSearchParams({ grant_type: 'refresh_token', refresh_token: state.refresh }),
      { skipAuthRefresh: true });
    state.access = resp.data.access_token;
    state.refresh = resp.data.refresh_token;
  }, options);
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => api.get('/api/me')));
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  const failed401 = results.filter((r) => r.status === 'rejected' && r.reason.response && r.reason.response.status === 401).length;
  return { ok, failed401, refreshes: state.refreshes };
}

async function main() {
  const def = await run({});
  check('default options: one refresh', def.refreshes === 1, JSON.stringify(def));
  check('default options: 401s that arrived during the refresh fail', def.failed401 > 0 && def.ok + def.failed401 === 5, JSON.stringify(def));
  const shared = await run({ deduplicateRefresh: false });
  check('deduplicateRefresh false: every request succeeds', shared.ok === 5, JSON.stringify(shared));
  check('deduplicateRefresh false: one refresh shared', shared.refreshes === 1, JSON.stringify(shared));
}

main().then(done, (err) => { console.error(err); process.exitCode = 1; });
