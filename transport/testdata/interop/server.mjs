// An independent DPoP (RFC 9449) server for the transport's interop test
// (interop_test.go): a token endpoint whose proofs jose verifies, and a
// resource server that oauth4webapi's validateJwtAccessToken guards
// (RFC 9068 JWT access token, DPoP proof, ath, cnf.jkt). Both ask for a
// server nonce. It prints "listening <base URL>" and serves until killed.
//
//   POST /login          a DPoP-bound login (the proof's key binds it)
//   POST /token          refresh_token grant, rotating, bound to the key
//   GET  /api/me         {"sub", "jkt"} of a valid DPoP-bound request
//   POST /admin/expire   every access token issued so far is refused
//   POST /admin/nonce    a new nonce
//   GET  /stats          counters
import http from 'node:http'
import crypto from 'node:crypto'
import * as jose from 'jose'
import * as oauth from 'oauth4webapi'

const algs = ['ES256', 'EdDSA']
const { privateKey, publicKey } = await jose.generateKeyPair('ES256')
const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
let base = ''
let nonce = crypto.randomUUID()
const refresh = new Map() // refresh token -> jkt
const expired = new Set() // jti of refused access tokens
const issued = []
const stats = { logins: 0, refreshes: 0, nonceAsks: 0, apiOK: 0, apiRefused: 0, proofErrors: 0 }

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'dpop-nonce': nonce, ...headers })
  res.end(JSON.stringify(body))
}

// verifyProof checks a token endpoint request's proof with jose and
// returns its key's thumbprint.
async function verifyProof(req, path) {
  const proof = req.headers['dpop']
  if (typeof proof !== 'string' || req.rawHeaders.filter((h) => h.toLowerCase() === 'dpop').length !== 1) {
    throw new Error('want one DPoP header')
  }
  const { payload, protectedHeader } = await jose.jwtVerify(proof, jose.EmbeddedJWK, {
    typ: 'dpop+jwt', algorithms: algs, maxTokenAge: '60s', clockTolerance: 5,
  })
  if (payload.htm !== req.method || payload.htu !== base + path || typeof payload.jti !== 'string' || payload.ath !== undefined) {
    throw new Error('htm, htu, jti or ath')
  }
  if (payload.nonce !== nonce) {
    const e = new Error('nonce')
    e.nonce = true
    throw e
  }
  return jose.calculateJwkThumbprint(protectedHeader.jwk, 'sha256')
}

async function issue(res, jkt) {
  const now = Math.floor(Date.now() / 1000)
  const jti = crypto.randomUUID()
  const at = await new jose.SignJWT({ client_id: 'jwtrefresh-transport', cnf: { jkt } })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer(base).setAudience(base + '/api').setSubject('alice').setJti(jti)
    .setIssuedAt(now).setExpirationTime(now + 300).sign(privateKey)
  issued.push(jti)
  const rt = crypto.randomBytes(24).toString('base64url')
  refresh.set(rt, jkt)
  send(res, 200, { access_token: at, token_type: 'DPoP', expires_in: 300, refresh_token: rt })
}

async function body(req) {
  const chunks = []
  for await (const c of req) chunks.push(c)
  return Buffer.concat(chunks).toString()
}

async function tokenEndpoint(req, res, path) {
  const form = new URLSearchParams(await body(req))
  let jkt
  try {
    jkt = await verifyProof(req, path)
  } catch (e) {
    if (e.nonce) {
      stats.nonceAsks++
      return send(res, 400, { error: 'use_dpop_nonce', error_description: 'a nonce is required' })
    }
    stats.proofErrors++
    return send(res, 400, { error: 'invalid_dpop_proof', error_description: String(e.message) })
  }
  if (path === '/login') {
    stats.logins++
    return issue(res, jkt)
  }
  const rt = form.get('refresh_token')
  if (form.get('grant_type') !== 'refresh_token' || !refresh.has(rt)) {
    return send(res, 400, { error: 'invalid_grant' })
  }
  if (refresh.get(rt) !== jkt) {
    stats.proofErrors++
    return send(res, 400, { error: 'invalid_dpop_proof', error_description: 'another key' })
  }
  refresh.delete(rt) // one-time use
  stats.refreshes++
  return issue(res, jkt)
}

async function api(req, res) {
  const request = new Request(base + req.url, { method: req.method, headers: req.headers })
  const as = { issuer: base, jwks_uri: base + '/jwks' }
  const challenge = (error) => ({ 'www-authenticate': `DPoP algs="${algs.join(' ')}", error="${error}"` })
  let claims
  try {
    claims = await oauth.validateJwtAccessToken(as, request, base + '/api', {
      requireDPoP: true, signingAlgorithms: ['ES256', 'EdDSA'], [oauth.allowInsecureRequests]: true,
    })
  } catch (e) {
    stats.apiRefused++
    return send(res, 401, { error: 'invalid_token', error_description: String(e.message) }, challenge('invalid_token'))
  }
  // oauth4webapi leaves the nonce to the resource server.
  if (jose.decodeJwt(request.headers.get('dpop')).nonce !== nonce) {
    stats.nonceAsks++
    return send(res, 401, { error: 'use_dpop_nonce' }, challenge('use_dpop_nonce'))
  }
  if (expired.has(claims.jti)) {
    stats.apiRefused++
    return send(res, 401, { error: 'invalid_token' }, challenge('invalid_token'))
  }
  stats.apiOK++
  return send(res, 200, { sub: claims.sub, jkt: claims.cnf.jkt })
}

async function handle(req, res) {
  const path = new URL(req.url, base).pathname
  switch (`${req.method} ${path}`) {
    case 'GET /jwks': return send(res, 200, { keys: [jwk] })
    case 'POST /login': return tokenEndpoint(req, res, path)
    case 'POST /token': return tokenEndpoint(req, res, path)
    case 'GET /api/me': return api(req, res)
    case 'POST /admin/expire': issued.forEach((j) => expired.add(j)); return send(res, 200, {})
    case 'POST /admin/nonce': nonce = crypto.randomUUID(); return send(res, 200, {})
    case 'GET /stats': return send(res, 200, stats)
  }
  send(res, 404, { error: 'not_found' })
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => send(res, 500, { error: 'server_error', error_description: String(e) }))
})
server.listen(0, '127.0.0.1', () => {
  base = `http://127.0.0.1:${server.address().port}`
  console.log(`listening ${base}`)
})
