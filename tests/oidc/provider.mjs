// A real OpenID Connect provider (panva's oidc-provider) for marketchat's sign-on tests.
// It listens on loopback only and is started and stopped by tests/common/oidc.rs.
//
// Usage: node provider.mjs CONFIG_JSON, where CONFIG_JSON is
//   {
//     "host": "localhost",              // the issuer's host name (it listens on 127.0.0.1)
//     "clientId": "marketchat", "clientSecret": "…",
//     "redirectUris": ["http://127.0.0.1:PORT/operator/sso/callback"],
//     "claims": ["marketchat_role"],    // extra claims put in every ID token (scope openid)
//     "accounts": { "alice": { "password": "…", "claims": { "email": …, "marketchat_role": … } } }
//   }
// It prints one line, `listening on http://HOST:PORT`, once it answers (the issuer).
//
// People sign in on its own pages: GET /interaction/UID shows a form (login, password;
// data-testid `idp-login`, `idp-password`, `idp-submit`, `idp-cancel`), POST checks the
// password; consent is given at once (a first-party provider). "Cancel" ends the request
// with error=access_denied.
//
// Test controls (loopback, for the tests only):
//   POST /_test/tamper   body: mode   changes the ID tokens the token endpoint returns
//     none | signature (one byte of the signature changed) | nonce | audience | issuer |
//     expired (re-signed with the real key, so only that check catches it) |
//     foreign-key (signed by another key with the same kid) | alg-none (unsigned)
//   POST /_test/accounts/ID   body: JSON claims   replaces an account's claims

import http from "node:http";
import { randomBytes } from "node:crypto";
import Provider from "oidc-provider";
import { CompactSign, exportJWK, generateKeyPair } from "jose";

const config = JSON.parse(process.argv[2] || "{}");
const accounts = config.accounts || {};
let tamperMode = "none";

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function signingKey(kid) {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(privateKey)), kid, alg: "RS256", use: "sig" } };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > 65536) reject(new Error("body too large"));
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const b64json = (part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));

/// The ID token as the current tamper mode makes it.
async function tamper(idToken, realKey, foreignKey) {
  const [headerPart, payloadPart, signature] = idToken.split(".");
  const header = b64json(headerPart);
  const payload = b64json(payloadPart);
  const resign = async (claims, key = realKey.privateKey) =>
    new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader(header).sign(key);
  const now = Math.floor(Date.now() / 1000);
  switch (tamperMode) {
    case "signature": {
      const bytes = Buffer.from(signature, "base64url");
      bytes[bytes.length >> 1] ^= 0x01;
      return `${headerPart}.${payloadPart}.${bytes.toString("base64url")}`;
    }
    case "nonce":
      return resign({ ...payload, nonce: "not-the-nonce-that-was-sent" });
    case "audience":
      return resign({ ...payload, aud: "some-other-client" });
    case "issuer":
      return resign({ ...payload, iss: "http://evil.invalid" });
    case "expired":
      return resign({ ...payload, iat: now - 7200, exp: now - 3600 });
    case "foreign-key":
      return resign(payload, foreignKey.privateKey);
    case "alg-none": {
      const none = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
      return `${none}.${payloadPart}.`;
    }
    default:
      return idToken;
  }
}

function loginPage(uid, clientId, error) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test identity provider</title></head>
<body>
<h1>Test identity provider</h1>
<p>Sign in to continue to ${escapeHtml(clientId)}.</p>
${error ? `<p data-testid="idp-error">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
  <label>Login <input name="login" data-testid="idp-login" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" data-testid="idp-password" autocomplete="current-password" required></label>
  <button type="submit" data-testid="idp-submit">Sign in</button>
</form>
<a href="/interaction/${escapeHtml(uid)}/abort" data-testid="idp-cancel">Cancel</a>
</body></html>`;
}

/// Our interaction pages: the login form, its check, consent given at once, and cancel.
async function interaction(provider, req, res, url) {
  const [, , uid, action] = url.pathname.split("/");
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error("interaction mismatch");
  if (action === "abort") {
    const result = { error: "access_denied", error_description: "End-User aborted interaction" };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }
  if (details.prompt.name === "login") {
    if (action === "login" && req.method === "POST") {
      const form = new URLSearchParams(await readBody(req));
      const login = form.get("login") || "";
      const account = Object.hasOwn(accounts, login) ? accounts[login] : undefined;
      if (account && account.password === form.get("password")) {
        return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      }
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      return res.end(loginPage(uid, details.params.client_id, "Wrong login or password."));
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    return res.end(loginPage(uid, details.params.client_id));
  }
  if (details.prompt.name === "consent") {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const result = { consent: { grantId: await grant.save() } };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
  }
  res.writeHead(501).end("not implemented");
}

async function main() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(config.port || 0, "127.0.0.1", resolve));
  const { port } = server.address();
  const issuer = `http://${config.host || "127.0.0.1"}:${port}`;
  const realKey = await signingKey("test-key-1");
  const foreignKey = await signingKey("test-key-1");
  const extraClaims = config.claims || [];

  const provider = new Provider(issuer, {
    clients: [{
      client_id: config.clientId,
      client_secret: config.clientSecret,
      redirect_uris: config.redirectUris,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    }],
    jwks: { keys: [realKey.jwk] },
    cookies: { keys: [randomBytes(32).toString("hex")] },
    claims: { openid: ["sub", ...extraClaims], email: ["email", "email_verified"], profile: ["name"] },
    // Claims of the granted scopes go in the ID token too (as Keycloak, Okta and Entra do
    // with their claim mappers), not only in the userinfo response.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
    async findAccount(ctx, id) {
      if (!Object.hasOwn(accounts, id)) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...accounts[id].claims }) };
    },
  });
  provider.on("server_error", (ctx, error) => console.error("provider error:", error));
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === "/token" && ctx.status === 200 && ctx.body && ctx.body.id_token && tamperMode !== "none") {
      ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token, realKey, foreignKey) };
    }
  });
  const oidc = provider.callback();

  server.on("request", async (req, res) => {
    const url = new URL(req.url, issuer);
    try {
      if (url.pathname === "/_test/tamper" && req.method === "POST") {
        tamperMode = (await readBody(req)).trim();
        return res.writeHead(204).end();
      }
      if (url.pathname.startsWith("/_test/accounts/") && req.method === "POST") {
        const id = decodeURIComponent(url.pathname.slice("/_test/accounts/".length));
        if (!Object.hasOwn(accounts, id)) return res.writeHead(404).end();
        accounts[id].claims = JSON.parse(await readBody(req));
        return res.writeHead(204).end();
      }
      if (url.pathname.startsWith("/interaction/")) return await interaction(provider, req, res, url);
      return oidc(req, res);
    } catch (error) {
      console.error("test provider:", error);
      if (!res.headersSent) res.writeHead(400, { "content-type": "text/plain" });
      res.end(String(error && error.message));
    }
  });
  console.log(`listening on ${issuer}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
