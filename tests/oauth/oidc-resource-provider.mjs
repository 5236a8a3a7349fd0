// oidc-provider 9.13.3 (a certified OpenID provider) on 127.0.0.1, configured for
// sealed-session's resource-server (`jwt`) tests: RFC 9068 JWT access tokens for a resource
// indicator, opaque access tokens checked by introspection (RFC 7662), and DPoP-bound tokens
// (RFC 9449), all by the client-credentials grant.
//
//   node tests/oauth/oidc-resource-provider.mjs [--lifetime SECONDS]
//
// Prints one line `{"ready":true,"issuer":...,"port":...}` when listening. Exits when stdin
// closes (the test process went away), and in any case after --lifetime seconds (default 180).
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : fallback;
};
const lifetime = arg('--lifetime', 180);

// Resource indicators: JWT access tokens for one API, opaque ones for the other.
const JWT_API = 'https://api.example.org';
const OPAQUE_API = 'https://opaque.example.org';

const jwk = (type, options, alg, kid) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }), alg, kid, use: 'sig',
});
const keys = [
  jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'es-1'),
  jwk('rsa', { modulusLength: 2048 }, 'RS256', 'rs-1'),
];

// Listen first: the issuer URL needs the port.
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  jwks: { keys },
  clients: [
    { client_id: 'machine', client_secret: 'machine-secret-7c6d5e', grant_types: ['client_credentials'],
      redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic' },
    { client_id: 'api', client_secret: 'api-introspection-secret-1f2e', grant_types: [],
      redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic' },
  ],
  scopes: ['read', 'write'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => JWT_API,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource === JWT_API) {
          return { scope: 'read write', audience: JWT_API, accessTokenFormat: 'jwt', accessTokenTTL: 600,
            jwt: { sign: { alg: 'ES256' } } };
        }
        if (resource === OPAQUE_API) {
          return { scope: 'read write', audience: OPAQUE_API, accessTokenFormat: 'opaque', accessTokenTTL: 600 };
        }
        throw new Provider.errors.InvalidTarget();
      },
    },
  },
});
provider.on('server_error', (_ctx, err) => process.stderr.write(`oidc-provider: ${err.stack}\n`));
server.on('request', provider.callback());

process.stdout.write(JSON.stringify({ ready: true, issuer, port, jwt_api: JWT_API, opaque_api: OPAQUE_API }) + '\n');

if (lifetime > 0) setTimeout(() => process.exit(0), lifetime * 1000).unref();
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
