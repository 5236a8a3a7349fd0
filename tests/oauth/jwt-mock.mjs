// An OAuth 2 authorization server on 127.0.0.1 for sealed-session's resource-server (`jwt`)
// tests: oauth2-mock-server's issuer (discovery, JWKS, client-credentials tokens) plus a control
// API to sign arbitrary and forged tokens, rotate keys, break the JWKS endpoint, and answer
// introspection for registered opaque tokens.
//
//   node tests/oauth/jwt-mock.mjs [--lifetime SECONDS]
//
// Prints one line `{"ready":true,"issuer":...,"port":...}` when listening. Exits when stdin
// closes (the test process went away), and in any case after --lifetime seconds (default 180).
import http from 'node:http';
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes, sign } from 'node:crypto';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : fallback;
};
const lifetime = arg('--lifetime', 180);

const CLIENT_ID = 'resource-tests';
const CLIENT_SECRET = 'resource-tests-secret-5a4b3c';

const issuer = new OAuth2Issuer();
let current = await issuer.keys.generate('RS256');
const ecKey = await issuer.keys.generate('ES256');
const service = new OAuth2Service(issuer);

const control = {
  accessClaims: {},     // merged into every access token from /token
  jwks: 'normal',       // 'normal' | 'down' | 'garbage' | 'slow'
  jwksDelayMs: 0,
  opaque: {},           // token -> introspection answer
  introspection: null,  // {status, body}: replaces every introspection answer
};
const counts = {};
let lastIntrospection = null;

const b64url = (data) => Buffer.from(data).toString('base64url');
const foreignKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const privateOf = (jwk) => createPrivateKey({ key: jwk, format: 'jwk' });

// Signs `payload` under `header` with the issuer's key `jwk` (or a forged variant).
function signToken(header, payload, jwk, mode) {
  const h = { alg: jwk.alg, typ: 'JWT', kid: jwk.kid, ...header };
  const input = (hh) => `${b64url(JSON.stringify(hh))}.${b64url(JSON.stringify(payload))}`;
  switch (mode) {
    case 'none':
      return `${input({ ...h, alg: 'none' })}.`;
    case 'hs256': { // key confusion: HMAC keyed with the provider's public key (PEM and raw n)
      const hh = { ...h, alg: 'HS256' };
      const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      return `${input(hh)}.${createHmac('sha256', pem).update(input(hh)).digest('base64url')}`;
    }
    case 'foreign-key': // a valid signature by a key the provider never published, same kid
      return `${input(h)}.${sign('sha256', Buffer.from(input(h)), foreignKey).toString('base64url')}`;
    case 'jwe': { // a compact JWE (five segments): never a signed token
      const cek = randomBytes(32);
      const pub = createPublicKey({ key: jwk, format: 'jwk' });
      const ek = publicEncrypt(pub, cek);
      const hh = { alg: 'RSA-OAEP', enc: 'A256GCM', kid: jwk.kid };
      return [b64url(JSON.stringify(hh)), ek.toString('base64url'), b64url(randomBytes(12)),
        b64url(JSON.stringify(payload)), b64url(randomBytes(16))].join('.');
    }
    default: {
      const data = Buffer.from(input(h));
      const key = privateOf(jwk);
      const sig = h.alg.startsWith('ES')
        ? sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' })
        : sign('sha256', data, key);
      return `${input(h)}.${sig.toString('base64url')}`;
    }
  }
}

service.on('beforeTokenSigning', (token, req) => {
  // RFC 9068 for client credentials: the client is the subject.
  token.payload.sub = token.payload.sub ?? CLIENT_ID;
  token.payload.client_id = CLIENT_ID;
  Object.assign(token.payload, control.accessClaims);
});

const readBody = (req) => new Promise((resolve) => {
  let data = '';
  req.on('data', (chunk) => { data += chunk; });
  req.on('end', () => resolve(data));
});
const send = (res, status, body, type = 'application/json') => {
  res.writeHead(status, { 'content-type': type });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const path = url.pathname;
  if (path.startsWith('/__control/')) {
    const what = path.slice('/__control/'.length);
    const raw = req.method === 'POST' ? await readBody(req) : '';
    let body = {};
    try { body = raw ? JSON.parse(raw) : {}; } catch { return send(res, 400, { error: 'bad json' }); }
    switch (what) {
      case 'sign': {
        const now = Math.floor(Date.now() / 1000);
        const payload = { iss: issuer.url, sub: 'alice', aud: 'https://api.example.org', iat: now,
          exp: now + 600, ...body.claims };
        for (const [k, v] of Object.entries(body.claims ?? {})) if (v === null) delete payload[k];
        if (body.pad) payload.pad = 'x'.repeat(body.pad);
        const jwk = body.alg === 'ES256' ? ecKey : current;
        return send(res, 200, { token: signToken(body.header ?? {}, payload, jwk, body.mode) });
      }
      case 'rotate-keys': current = await issuer.keys.generate('RS256'); return send(res, 200, { kid: current.kid });
      case 'access-claims': control.accessClaims = body; break;
      case 'jwks': control.jwks = body.mode ?? 'normal'; control.jwksDelayMs = body.ms ?? 0; break;
      case 'opaque': control.opaque[body.token] = body.answer; break;
      case 'introspection': control.introspection = body.status ? body : null; break;
      case 'counts': return send(res, 200, counts);
      case 'last-introspection': return send(res, 200, lastIntrospection ?? {});
      default: return send(res, 404, { error: 'unknown control' });
    }
    return send(res, 200, { ok: true });
  }
  counts[path] = (counts[path] ?? 0) + 1;
  if (path === '/jwks') {
    switch (control.jwks) {
      case 'down': return send(res, 503, { error: 'temporarily_unavailable' });
      case 'garbage': return send(res, 200, '<html>502 Bad Gateway</html>', 'text/html');
      case 'slow': await sleep(control.jwksDelayMs); break;
      default: break;
    }
  }
  if (path === '/introspect' && req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    const auth = req.headers.authorization ?? '';
    const expected = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
    lastIntrospection = { basic_auth: auth === expected, params: [...form.keys()].sort(),
      token_type_hint: form.get('token_type_hint') };
    if (control.introspection) return send(res, control.introspection.status, control.introspection.body);
    if (auth !== expected) return send(res, 401, { error: 'invalid_client' });
    const answer = control.opaque[form.get('token')];
    return send(res, 200, answer ?? { active: false });
  }
  service.requestHandler(req, res);
});

server.listen(0, '127.0.0.1', () => {
  const actual = server.address().port;
  issuer.url = `http://127.0.0.1:${actual}`;
  process.stdout.write(JSON.stringify({ ready: true, issuer: issuer.url, port: actual,
    client_id: CLIENT_ID, client_secret: CLIENT_SECRET }) + '\n');
});

if (lifetime > 0) setTimeout(() => process.exit(0), lifetime * 1000).unref();
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
