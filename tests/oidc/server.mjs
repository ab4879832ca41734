// A real, certified OAuth 2.0 / OIDC server (oidc-provider) on 127.0.0.1 for wrap's login tests.
//
// Logins are approved without a person: a small middleware on /interaction/:uid finishes each
// interaction with a fixed account and a grant holding the requested scopes. Refresh tokens
// rotate on every use, and a reused one is rejected with invalid_grant (revoking the grant).
//
// Prints one line `READY <issuer>` when it accepts connections. Test controls:
//   POST /_test/deny   - the next interaction ends with error=access_denied
// Environment: ACCESS_TTL (seconds, default 3600).
import http from "node:http";
import Provider from "oidc-provider";

const server = http.createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "wrap-test",
      token_endpoint_auth_method: "none",
      application_type: "native",
      // RFC 8252: a loopback redirect accepts any port.
      redirect_uris: ["http://127.0.0.1/callback"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    },
  ],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  rotateRefreshToken: true,
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed("refresh_token"),
  ttl: { AccessToken: Number(process.env.ACCESS_TTL || 3600) },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, email: `${sub}@example.com` }),
  }),
  claims: { openid: ["sub"], email: ["email"] },
  // Put scope claims (email) in the ID token itself, where wrap reads the account name.
  conformIdTokenClaims: false,
});

let denyNext = false;
const callback = provider.callback();

server.on("request", async (req, res) => {
  try {
    if (req.method === "POST" && req.url === "/_test/deny") {
      denyNext = true;
      res.writeHead(204).end();
      return;
    }
    const match = req.url.match(/^\/interaction\/([^/?]+)/);
    if (!match) {
      callback(req, res);
      return;
    }
    const details = await provider.interactionDetails(req, res);
    if (denyNext) {
      denyNext = false;
      await provider.interactionFinished(
        req,
        res,
        { error: "access_denied", error_description: "the test said no" },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const accountId = "tester";
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: details.params.client_id });
    const missing = details.prompt.details || {};
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const grantId = await grant.save();
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId }, consent: { grantId } },
      { mergeWithLastSubmission: true },
    );
  } catch (err) {
    res.writeHead(500, { "content-type": "text/plain" }).end(String(err));
  }
});

// server.close() can hang on keep-alive sockets: exit at once.
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
console.log(`READY ${issuer}`);
