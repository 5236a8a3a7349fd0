// A real OpenID provider on 127.0.0.1 for sealed-session's client tests (src/client):
// oidc-provider 9.x (certified), configured with
//   - `device-cli`   public client: device flow + refresh tokens (rotated);
//   - `browser-cli`  public native client: authorization code + PKCE, loopback redirect on any
//                    port (http://127.0.0.1/callback), refresh tokens;
//   - `service`      confidential client: client credentials (client_secret_basic);
// revocation on, short token lifetimes, one test account, and a login page the test completes
// over HTTP (no devInteractions): POST /interaction/:uid/login {login, password} signs the
// account in; at a consent prompt the same POST grants what the client asked for (no consent
// screen); POST /interaction/:uid/abort answers access_denied.
//
//   node tests/oauth/oidc-client-provider.mjs [--port N] [--lifetime SECONDS] [--access-ttl SECONDS]
//
// Prints one line `{"ready":true,"issuer":...,"port":...}` when listening. Exits when stdin
// closes (the test process went away) and in any case after --lifetime seconds (default 180;
// 0 = until stopped, for trying examples/client.rs by hand).
//
// Control API for the tests (JSON):
//   GET  /__control/counts         -> {"token:<grant_type>": n, "revocation": n, ...}
//   POST /__control/slow-down {n}  -> the next n device-code polls that would answer
//                                     authorization_pending answer slow_down instead
import http from 'node:http';
import Provider from 'oidc-provider';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : fallback;
};
const port = arg('--port', 0);
const lifetime = arg('--lifetime', 180);
const accessTtl = arg('--access-ttl', 30);

export const ACCOUNT = { login: 'tester', password: 'correct horse battery staple' };
export const SERVICE_SECRET = 'service-secret-5a1f0c3e9b';

const counts = {};
const bump = (k) => { counts[k] = (counts[k] ?? 0) + 1; };
let slowDowns = 0;

const configuration = {
  clients: [
    {
      client_id: 'device-cli',
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: 'browser-cli',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
    {
      client_id: 'service',
      client_secret: SERVICE_SECRET,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'api:read api:write',
    },
  ],
  scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
  claims: { openid: ['sub'], profile: ['name'] },
  cookies: { keys: ['sealed-session-client-test-cookie-key'] },
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
  },
  // Refresh tokens for every client allowed the grant, rotated on every use.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  ttl: {
    AccessToken: accessTtl,
    ClientCredentials: accessTtl,
    AuthorizationCode: 60,
    DeviceCode: 120,
    IdToken: 300,
    RefreshToken: 600,
    Interaction: 300,
    Session: 600,
    Grant: 600,
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (_ctx, sub) => (sub === ACCOUNT.login
    ? { accountId: sub, claims: async () => ({ sub, name: 'Test User' }) }
    : undefined),
  // No consent screen: the signed-in account gets the scopes it asked for.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    if (!ctx.oidc.session.accountId) return undefined;
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
    await grant.save();
    return grant;
  },
};

const readForm = (req) => new Promise((resolve) => {
  let data = '';
  req.on('data', (chunk) => { data += chunk; if (data.length > 8192) req.destroy(); });
  req.on('end', () => resolve(new URLSearchParams(data)));
});
const readJson = (req) => new Promise((resolve) => {
  let data = '';
  req.on('data', (chunk) => { data += chunk; });
  req.on('end', () => { try { resolve(data ? JSON.parse(data) : {}); } catch { resolve({}); } });
});
const send = (res, status, body, type = 'application/json') => {
  res.writeHead(status, { 'content-type': type });
  res.end(type === 'application/json' ? JSON.stringify(body) : body);
};

const server = http.createServer();
server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  const issuer = `http://127.0.0.1:${actual}`;
  const provider = new Provider(issuer, configuration);

  // Counts every token request by grant type; turns pending device polls into slow_down on request.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token') {
      bump(`token:${ctx.oidc?.params?.grant_type ?? 'unknown'}`);
      if (slowDowns > 0 && ctx.status === 400 && ctx.body?.error === 'authorization_pending') {
        slowDowns -= 1;
        ctx.body = { error: 'slow_down', error_description: 'poll less often' };
      }
    } else if (ctx.path === '/token/revocation') {
      bump('revocation');
    } else if (ctx.path === '/device/auth') {
      bump('device_authorization');
    }
  });
  const callback = provider.callback();

  server.on('request', async (req, res) => {
    const url = new URL(req.url, issuer);
    const path = url.pathname;
    try {
      if (path.startsWith('/__control/')) {
        const what = path.slice('/__control/'.length);
        if (what === 'counts') return send(res, 200, counts);
        if (what === 'slow-down') { slowDowns = Number((await readJson(req)).n ?? 1); return send(res, 200, { ok: true }); }
        return send(res, 404, { error: 'unknown control' });
      }
      const m = path.match(/^\/interaction\/([^/]+)(\/login|\/abort)?$/);
      if (m) {
        const details = await provider.interactionDetails(req, res);
        if (details.uid !== m[1]) return send(res, 400, 'wrong interaction', 'text/plain');
        if (!m[2]) {
          // The login page a person would see.
          return send(res, 200, `<p id="prompt">${details.prompt.name}</p><form method="post" action="/interaction/${details.uid}/login">
<input name="login"><input name="password" type="password"><button>Sign in</button></form>
<form method="post" action="/interaction/${details.uid}/abort"><button>Cancel</button></form>`, 'text/html');
        }
        if (req.method !== 'POST') return send(res, 405, 'POST only', 'text/plain');
        if (m[2] === '/abort') {
          return provider.interactionFinished(req, res, {
            error: 'access_denied', error_description: 'End-User aborted interaction',
          }, { mergeWithLastSubmission: false });
        }
        if (details.prompt.name === 'consent') {
          // No consent screen: grant what the client asked for.
          const { prompt: { details: missing }, params, session } = details;
          const grant = details.grantId
            ? await provider.Grant.find(details.grantId)
            : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
          if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
          if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
          if (missing.missingResourceScopes) {
            for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
              grant.addResourceScope(indicator, scopes.join(' '));
            }
          }
          const grantId = await grant.save();
          return provider.interactionFinished(req, res, { consent: { grantId } }, {
            mergeWithLastSubmission: true,
          });
        }
        const form = await readForm(req);
        if (form.get('login') !== ACCOUNT.login || form.get('password') !== ACCOUNT.password) {
          return send(res, 401, 'wrong login or password', 'text/plain');
        }
        return provider.interactionFinished(req, res, { login: { accountId: ACCOUNT.login } }, {
          mergeWithLastSubmission: false,
        });
      }
      return callback(req, res);
    } catch (err) {
      return send(res, 500, { error: 'server_error', error_description: String(err.message ?? err) });
    }
  });

  process.stdout.write(`${JSON.stringify({ ready: true, issuer, port: actual })}\n`);
});

if (lifetime > 0) setTimeout(() => process.exit(0), lifetime * 1000).unref();
if (lifetime > 0) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
