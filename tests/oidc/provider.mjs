// A real OpenID Connect provider (the `oidc-provider` package) on loopback for radportal's sign-in
// tests. It takes its settings as one JSON argument:
//   {"client_id", "client_secret", "redirect_uri", "post_logout_redirect_uri", "accounts_file"}
// where the accounts file holds {"<login>": {claims...}} and is read again at every sign-in (so a
// test can change a person's groups between sign-ins). It listens on a free port of 127.0.0.1 and
// prints "ready <issuer>" once it answers. Its login page (/interaction/<uid>) takes the login name of
// one of the accounts; consent is given with the login.
import { readFileSync } from 'node:fs';
import http from 'node:http';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const settings = JSON.parse(process.argv[2]);
const accounts = () => JSON.parse(readFileSync(settings.accounts_file, 'utf8'));

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'provider-rs256', alg: 'RS256', use: 'sig' };

let provider;
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((error) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
    return;
  }
  provider.callback()(req, res);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

provider = new Provider(issuer, {
  clients: [
    {
      client_id: settings.client_id,
      client_secret: settings.client_secret,
      redirect_uris: [settings.redirect_uri],
      post_logout_redirect_uris: [settings.post_logout_redirect_uri],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['radportal-test-provider-cookies'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
    organization: ['organization'],
    groups: ['groups'],
  },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, login) {
    const claims = accounts()[login];
    if (!claims) return undefined;
    return { accountId: login, claims: async () => ({ sub: login, ...claims }) };
  },
});

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

// The login page: a form for the login name; the login also gives consent to what was asked.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Test provider</title>
      <form method="post" action="/interaction/${details.uid}">
      <label>Login <input name="login"></label><button>Sign in</button></form>`);
    return;
  }
  const login = (await body(req)).get('login');
  if (!accounts()[login]) {
    res.writeHead(401, { 'content-type': 'text/plain' });
    res.end('unknown login');
    return;
  }
  const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: login }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

process.stdout.write(`ready ${issuer}\n`);
