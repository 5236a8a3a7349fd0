// A real OAuth2/OIDC server on 127.0.0.1 for sealed-session's end-to-end login tests:
// oauth2-mock-server (signed RS256 tokens, PKCE), plus a small control API the tests use to
// shape its answers, and an ASF-style `/auth-oidc` + `/token-oidc` pair.
//
//   node tests/oauth/mock-server.mjs [--port N] [--lifetime SECONDS]
//
// Prints one line `{"ready":true,"issuer":...,"port":...}` when listening. Exits when stdin
// closes (the test process went away) and in any case after --lifetime seconds (default 180;
// 0 = run until stopped, for trying the example by hand).
import http from 'node:http';
import { createHmac, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : fallback;
};
const port = arg('--port', 0);
const lifetime = arg('--lifetime', 180);

const issuer = new OAuth2Issuer();
await issuer.keys.generate('RS256');
const service = new OAuth2Service(issuer);

// What the tests asked for.
const control = {
  idClaims: {},          // merged into every ID token
  accessClaims: {},      // merged into every access token
  idHeader: {},          // merged into every ID token's header (e.g. another kid)
  tokenResponse: null,   // {status, body}: replaces the next token answer
  userinfo: null,        // {status, body}: replaces every userinfo answer
  authorizeError: null,  // the next authorize redirect carries error=<this> instead of a code
  tamperIdToken: null,   // 'payload' | 'none' | 'hs256' | 'foreign-key': breaks the next ID token
  delays: {},            // path -> milliseconds
  fail: {},              // path -> status code, answered instead
  asfUser: { uid: 'janedoe', fullname: 'Jane Doe', email: 'jane@example.org', pmcs: ['httpd'],
             isMember: true, isChair: false, isRoot: false, mfa: true, projects: ['httpd'] },
};
const counts = {};

// Forged ID tokens, for the signature tests.
const b64url = (data) => Buffer.from(data).toString('base64url');
const parts = (jwt) => jwt.split('.').map((p, i) => (i < 2 ? JSON.parse(Buffer.from(p, 'base64url')) : p));
const foreignKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
function tamper(jwt, mode) {
  const [header, payload, signature] = parts(jwt);
  const encode = (h, p) => `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(p))}`;
  switch (mode) {
    case 'payload': // the provider's signature over other claims
      return `${encode(header, { ...payload, sub: 'mallory' })}.${signature}`;
    case 'none':
      return `${encode({ alg: 'none', typ: 'JWT' }, payload)}.`;
    case 'hs256': { // key confusion: HMAC keyed with the provider's public modulus
      const input = encode({ ...header, alg: 'HS256' }, payload);
      const jwk = issuer.keys.get(header.kid).toJSON ? issuer.keys.get(header.kid).toJSON() : issuer.keys.get(header.kid);
      return `${input}.${createHmac('sha256', String(jwk.n)).update(input).digest('base64url')}`;
    }
    case 'foreign-key': { // a valid RS256 signature by a key the provider never published
      const input = encode(header, payload);
      return `${input}.${sign('sha256', Buffer.from(input), foreignKey).toString('base64url')}`;
    }
    default:
      return jwt;
  }
}
let lastTokenRequest = null;

service.on('beforeTokenSigning', (token) => {
  // The ID token is the one without `scope`.
  if ('scope' in token.payload) {
    Object.assign(token.payload, control.accessClaims);
  } else {
    Object.assign(token.payload, control.idClaims);
    Object.assign(token.header, control.idHeader);
  }
});
service.on('beforeResponse', (response, req) => {
  const body = req.body || {};
  lastTokenRequest = {
    params: Object.keys(body).sort(),
    has_code_verifier: typeof body.code_verifier === 'string',
    redirect_uri: body.redirect_uri ?? null,
    grant_type: body.grant_type ?? null,
    client_id: body.client_id ?? null,
    basic_auth: typeof req.headers.authorization === 'string' && req.headers.authorization.startsWith('Basic '),
  };
  if (control.tamperIdToken && response.body && typeof response.body.id_token === 'string') {
    response.body.id_token = tamper(response.body.id_token, control.tamperIdToken);
    control.tamperIdToken = null;
  }
  if (control.tokenResponse) {
    response.statusCode = control.tokenResponse.status;
    response.body = control.tokenResponse.body;
    control.tokenResponse = null;
  }
});
service.on('beforeUserinfo', (response) => {
  if (control.userinfo) {
    response.statusCode = control.userinfo.status;
    response.body = control.userinfo.body;
  }
});
service.on('beforeAuthorizeRedirect', (redirect) => {
  if (control.authorizeError) {
    redirect.url.searchParams.delete('code');
    redirect.url.searchParams.set('error', control.authorizeError);
    control.authorizeError = null;
  }
});

const readJson = (req) => new Promise((resolve) => {
  let data = '';
  req.on('data', (chunk) => { data += chunk; });
  req.on('end', () => { try { resolve(data ? JSON.parse(data) : {}); } catch { resolve({}); } });
});
const send = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const path = url.pathname;
  if (path.startsWith('/__control/')) {
    const what = path.slice('/__control/'.length);
    const body = req.method === 'POST' ? await readJson(req) : {};
    switch (what) {
      case 'id-claims': control.idClaims = body; break;
      case 'access-claims': control.accessClaims = body; break;
      case 'id-header': control.idHeader = body; break;
      case 'token-response': control.tokenResponse = body; break;
      case 'userinfo': control.userinfo = body.status ? body : null; break;
      case 'authorize-error': control.authorizeError = body.error ?? null; break;
      case 'tamper-id-token': control.tamperIdToken = body.mode ?? null; break;
      case 'delay': control.delays[body.path] = body.ms; break;
      case 'fail': control.fail[body.path] = body.status; break;
      case 'asf-user': control.asfUser = body; break;
      case 'counts': return send(res, 200, counts);
      case 'last-token-request': return send(res, 200, lastTokenRequest ?? {});
      case 'rotate-keys': await issuer.keys.generate('RS256'); break;
      default: return send(res, 404, { error: 'unknown control' });
    }
    return send(res, 200, { ok: true });
  }
  counts[path] = (counts[path] ?? 0) + 1;
  if (control.delays[path]) await sleep(control.delays[path]);
  if (control.fail[path]) return send(res, control.fail[path], { error: 'server_error' });
  if (path === '/auth-oidc') {
    // The ASF service: straight back to the redirect URI (which already holds the state).
    const to = new URL(url.searchParams.get('redirect_uri'));
    to.searchParams.set('code', randomUUID());
    res.writeHead(302, { location: to.href });
    return res.end();
  }
  if (path === '/token-oidc') {
    return url.searchParams.get('code') ? send(res, 200, control.asfUser) : send(res, 400, { error: 'no code' });
  }
  service.requestHandler(req, res);
});

server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  issuer.url = `http://127.0.0.1:${actual}`;
  process.stdout.write(JSON.stringify({ ready: true, issuer: issuer.url, port: actual }) + '\n');
});

if (lifetime > 0) setTimeout(() => process.exit(0), lifetime * 1000).unref();
if (lifetime > 0) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
