// Package twitchtest is an offline Twitch identity sandbox: an HTTP server
// that reproduces id.twitch.tv/oauth2 (token, authorize, device, validate,
// revoke, OpenID Connect) closely enough to test a Twitch client without the
// internet. Use it in Go tests with NewServer, or as a process with
// `twitchauth mock`.
//
// The package owns the sandbox's state (clients, users, consents, codes,
// tokens, the ID-token signing key) and its wire formats, written from
// shared/twitch-protocol.md. It must not import the twitchauth client (the
// root package): the two meet only over HTTP, so that one mistake in a shared
// struct cannot pass on both sides. Helix routes (helix.go) and extension
// routes (extension.go) are added to the same router with one s.handle call
// each; fault injection hooks in through SetFault.
//
// # Endpoints
//
//	POST /oauth2/token                       client_credentials, authorization_code, refresh_token,
//	                                         urn:ietf:params:oauth:grant-type:device_code
//	GET  /oauth2/authorize, POST (the form)  consent page (code, token, id_token, token id_token, code id_token)
//	POST /oauth2/device                      device authorization; GET/POST /activate is its page
//	GET  /oauth2/validate                    Authorization: OAuth <token> or Bearer <token>
//	POST /oauth2/revoke                      client_id, token
//	GET  /oauth2/.well-known/openid-configuration, GET /oauth2/keys, GET/POST /oauth2/userinfo
//
// Parameters of token, device and revoke are read from an urlencoded or
// multipart body and from the query string (twitch-cli sends them in the
// query); the body wins. Client authentication is client_id/client_secret
// parameters only: HTTP Basic is ignored, as on Twitch. Errors are
// {"status":N,"message":"..."} with Twitch's messages where the protocol
// notes record them ("Invalid refresh token", "missing client secret",
// "invalid client", "invalid client secret", "Invalid authorization code",
// "authorization_pending", "invalid device code", "invalid access token",
// "Invalid token", "client does not exist"); the sandbox's own wording is used
// where Twitch's is unknown ("missing client id", "unsupported grant type",
// "missing grant type", "missing authorization token", "invalid scope
// requested: 'x'", "method not allowed", "invalid request body").
//
// # Behaviour where Twitch is silent (choices)
//
//   - Lifetimes: user access tokens 4 h, app tokens 60 days, codes 10 min, ID
//     tokens 15 min, device codes 30 min (options change them). Implicit
//     tokens have the user lifetime and no refresh token.
//   - Refresh tokens rotate on every use. Public clients' refresh tokens are
//     single-use and expire 30 days after they were issued (that is, unused);
//     presenting a spent one revokes the whole grant (consent and every token
//     of that user for that client), as twitchdev/issues#903 reports.
//     Confidential and extension clients' old refresh token stays valid after
//     a refresh and never expires (Twitch: "do not have an expiration time");
//     WithSingleUseRefresh(true) makes them single-use too, to catch clients
//     that forget to store the rotated token.
//   - A confidential client refreshing without its secret gets
//     {"status":400,"message":"missing client secret"}; a wrong secret gets
//     403 "invalid client secret". Public clients need no secret for refresh
//     and device polls; a secret they send anyway is ignored.
//   - Public clients can only use the device code flow: /oauth2/authorize
//     shows an unauthorized_client page for them, and client_credentials
//     answers "missing client secret".
//   - Device polling sooner than the interval answers authorization_pending,
//     as Twitch documents no slow_down; WithDeviceSlowDown(true) answers
//     {"status":400,"message":"slow_down"} instead (without growing the
//     interval). A device authorization denied on the activation page answers
//     {"status":400,"message":"access_denied"} once; the device code is then
//     spent and later polls get "invalid device code". The device poll needs no
//     secret (a wrong one is refused). The "scopes" parameter is plural;
//     "scope" is accepted when "scopes" is absent.
//   - Revoking an access token kills that token only: the grant's refresh
//     token survives and can mint new access tokens. Revoking a refresh token
//     (also accepted) kills that refresh token only.
//   - An authorization code is spent by its first redemption attempt by its
//     client, even when that attempt fails on redirect_uri.
//   - Denied consent redirects with error=access_denied in the query for every
//     response type, as in Twitch's documented example.
//   - ID tokens carry iss, sub, aud, exp, iat, nonce (if sent), azp and
//     preferred_username; email and email_verified (only with user:read:email),
//     picture and updated_at are added when the claims parameter asks for them
//     (id_token part for ID tokens, userinfo part for /oauth2/userinfo). The
//     issuer is IDURL(), so go-oidc's issuer check holds. The signing key is
//     RSA-2048 with kid "1", generated on first use (shared by every NewServer
//     in a process) or loaded from the state file.
//   - The signed-in user of /oauth2/authorize is the WithAutoApprove user
//     (who consents to everything at once, even with force_verify) or the
//     user chosen on the last consent form (cookie twitchtest_login). A
//     signed-in user who already consented to a superset of the scopes is
//     redirected at once unless force_verify=true.
//
// # State
//
// Everything lives in memory behind one RWMutex; validate is a map lookup
// under a read lock and no password hashing is done. WithStateFile persists
// clients, users, consents, live tokens and the signing key to a JSON file
// (mode 0600, written atomically shortly after each change and on Close) and
// reloads them at start. Codes, consent pages and device codes are not
// persisted. Access tokens are 30 lowercase alphanumeric characters and
// refresh tokens 50, like Twitch's.
//
// # Lifecycle
//
// New builds a server; Listen (or Serve with your own listener) starts it in
// the background; Close stops it and writes the state file. Handler can be
// mounted elsewhere: the sandbox then derives its URLs from each request's
// Host. NewServer does all of this for a test, on 127.0.0.1 at a random port.
package twitchtest
