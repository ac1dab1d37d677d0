// A Node service trusting Tollgate: panva's jose verifies a token with the keys found by OIDC discovery alone.
//
//   node verify-jose.mjs ISSUER AUDIENCE ALG < token
//
// Reads the token on stdin (never argv: other users can read argv), fetches ISSUER/.well-known/openid-configuration,
// checks that its issuer is ISSUER, then verifies signature (JWKS from jwks_uri), iss, aud, exp/nbf and the
// algorithm. Prints {"header": …, "payload": …} and exits 0, or prints "CODE: message" on stderr and exits 1.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [issuer, audience, alg] = process.argv.slice(2);
if (!issuer || !audience || !alg) {
  console.error('usage: node verify-jose.mjs ISSUER AUDIENCE ALG < token');
  process.exit(2);
}
let token = '';
for await (const chunk of process.stdin) token += chunk;
try {
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  if (discovery.issuer !== issuer) throw Object.assign(new Error(`discovery names issuer ${discovery.issuer}`), { code: 'ERR_DISCOVERY' });
  const keys = createRemoteJWKSet(new URL(discovery.jwks_uri));
  const { payload, protectedHeader } = await jwtVerify(token.trim(), keys, { issuer, audience, algorithms: [alg] });
  console.log(JSON.stringify({ header: protectedHeader, payload }));
} catch (error) {
  console.error(`${error.code ?? 'ERROR'}: ${error.message}`);
  process.exit(1);
}
