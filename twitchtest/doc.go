// Package twitchtest is an offline Twitch identity sandbox: an HTTP server
// that reproduces id.twitch.tv/oauth2 (token, authorize, device, validate,
// revoke, OpenID Connect), a Helix subset with Twitch's rate-limit buckets,
// and extension JWTs and secrets, closely enough to test a Twitch client
// without the internet. Use it in Go tests with NewServer, or as a process with
// `twitchauth mock`.
//
// The package owns the sandbox's state (clients, users, consents, codes,
// tokens, the ID-token signing key) and its wire formats, written from
// docs/protocol.md. It must not import the twitchauth client (the
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
//	GET, POST /signout                       sign the sandbox user out (the consent page's session)
//
// Helix subset (under /helix, each with Twitch's JSON shapes):
//
//	GET    /helix/users                   ?id= and ?login= repeated (100 in all); none = the token's user
//	GET    /helix/streams                 user_id, user_login, game_id, language, type; first, after
//	GET    /helix/channels                ?broadcaster_id= repeated; PATCH for the token's own channel (204)
//	GET    /helix/users/extensions        ?user_id= (required with an app token; default the token's user); PUT
//	POST   /helix/extensions/pubsub       EBS JWT, role external, pubsub_perms.send covering each target (204)
//	POST   /helix/extensions/chat         ?broadcaster_id=, EBS JWT (204)
//	GET    /helix/extensions/jwt/secrets  ?extension_id=, EBS JWT; POST creates a secret (&delay=, default 300)
//	GET    /helix/extensions/live         ?extension_id=: live channels with the extension active
//	POST   /helix/moderation/bans         ?broadcaster_id=&moderator_id=, {"data":{"user_id","duration","reason"}}
//	DELETE /helix/moderation/bans         ?broadcaster_id=&moderator_id=&user_id= (204)
//	GET    /helix/moderation/moderators   ?broadcaster_id= (the token's user), moderation:read
//	POST   /_sandbox/extension/jwt        the sandbox's own: mints extension JWTs for non-Go tests
//	POST   /_sandbox/ratelimit/exhaust    the sandbox's own: holds a Helix bucket empty until its reset
//	GET    /_sandbox/requirements         the sandbox's own: each Helix endpoint's requirement, the scopes it knows
//	POST   /helix/eventsub/subscriptions  app token, webhook transport (202); GET (one filter, after); DELETE ?id= (204)
//	GET    /settings/connections          the signed-in user's Connections page (Disconnect); POST its forms
//	POST   /_sandbox/connections/revoke   the sandbox's own: client_id, user_id (form or JSON) disconnect an app
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
//   - Public clients pass /oauth2/authorize like any client (the implicit
//     flow works for them, as twitch-cli's comments say); their code
//     exchange answers {"status":400,"message":"public clients cannot use
//     the authorization code flow; use the device code flow"} with or
//     without a secret, and spends the code (Twitch answers 400, which
//     twitch-cli's "use --dcf" message keys on; its text is not recorded).
//     client_credentials answers "missing client secret".
//   - Authorize errors: a missing or unregistered redirect_uri sends the
//     browser to the client's first registered redirect URI with
//     error=redirect_mismatch, error_description "Parameter redirect_uri
//     does not match registered URI" and the state, as Twitch does
//     (twitchdev/issues#762), never to the unregistered URI; Authorize and
//     Deny return that URL with an *AuthorizeError. Without a known client
//     or a registered redirect URI there is nowhere safe to redirect, and an
//     HTML error page (400) says why. Unknown scopes ("invalid scope
//     requested: 'x'"), unsupported response types and bad claims get the
//     page too: third-party reports show Twitch answering those with a 400
//     of its own, not a redirect.
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
//     user chosen on the last consent form or activation page (cookie
//     twitchtest_login). A signed-in user who already consented to a
//     superset of the scopes is redirected at once unless
//     force_verify=true. Otherwise the page says "Signed in as X · Not
//     you?": Not you? signs X out and asks again who signs in, for the same
//     request; without a signed-in user it asks at once. /signout signs the
//     user out (a page and its form; cross-origin posts are refused).
//
// Where the sandbox knowingly differs from Twitch is listed in one place:
// docs/sandbox.md, "Differences from Twitch".
//
// # Helix: authentication, rate limits and choices
//
// Helix takes Authorization: Bearer <token> with a Client-Id header naming
// the token's client. Errors are {"error":"<status text>","status":N,
// "message":"..."}: "OAuth token is missing", "Client ID is missing" (checked
// in that order), "Invalid OAuth token" (unknown, expired or revoked tokens,
// and any scheme other than Bearer or Extension, including OAuth), "Client
// ID and OAuth token do not match", "Missing scope: <scope>" (the first
// requirement not met, alternatives joined with " or "), "Missing User OAUTH
// Token" (an app token where a user token is needed). Malformed JSON bodies get 400 "Malformed request body";
// wrong methods a Helix-shaped 405; unknown /helix paths 404.
//
// Authorization: Extension <Helix JWT> is accepted exactly where user
// tokens without scopes are (users, streams, channels GET, users/extensions
// GET, extensions/live) and refused elsewhere with 401 "The Extension authorization scheme is not
// supported by this endpoint". The JWT must be HS256, carry exp, verify
// with an active secret of the extension named by Client-Id, and have an
// opaque_user_id; otherwise 401 "Invalid or expired JWT" (Twitch's text for
// this is not recorded). A client_id claim naming another client is a
// mismatch. GET /helix/users without parameters answers with the JWT's
// user_id when the viewer shared their identity, else 400 like an app token.
// The EBS endpoints (pubsub, chat, secrets) take only an extension JWT as
// Bearer: a non-JWT gets 401 "This endpoint requires a JWT signed with the
// extension secret"; a JWT whose role is not external, whose channel_id is
// not the broadcaster ("all" for global PubSub broadcasts), or whose
// pubsub_perms.send does not cover a target ("*" and "whisper-*" wildcards
// work) gets 403. PubSub also needs user_id, as the reference says. Extension
// chat requires channel_id = broadcaster_id, as the reference says
// (twitchdev/issues#577 reports user_id being used instead).
//
// Rate limits are token buckets whose points refill continuously:
// app tokens and EBS JWTs draw from the client's app bucket, user tokens from
// the client-and-user bucket (800 points a minute each,
// WithHelixRateLimit), Helix JWTs from the viewer's bucket keyed by client
// and opaque user ID (30 a minute, WithExtensionViewerRateLimit). Every
// endpoint costs 1 point. Every authenticated Helix answer carries
// Ratelimit-Limit (bucket size), Ratelimit-Remaining (whole points left) and
// Ratelimit-Reset (Unix seconds, rounded up, when the bucket is full again);
// failed authentications take no points and report the Client-Id's app
// bucket when that client exists. An empty bucket answers 429
// {"error":"Too Many Requests","status":429,"message":"Request limit
// exceeded"}. PubSub messages have a second bucket per extension and
// broadcaster (100 a minute, WithExtensionPubSubRateLimit) answering the
// same 429. Counters: Requests("helix") for every request under /helix/,
// Requests("helix:429"), and one per endpoint, "helix:GET /users",
// "helix:PATCH /channels", …; those names are also SetFault points
// ("helix" faults every Helix path). ResetRateLimits refills every bucket.
// ExhaustRateLimit (and POST /_sandbox/ratelimit/exhaust, loopback
// callers only, {"client_id", "user_id" or "opaque_user_id"} →
// {"limit","remaining","reset","reset_at"}) empties one bucket and holds it
// empty until its reset — the time an empty bucket of that limit takes to
// refill, truncated to a whole second — so that a 429 can be rehearsed
// without timing; at the reset the bucket is full again.
//
// Data: the default users twitchdev, broadcaster and moderator are live at
// start (sorted by viewer count; SetStreamLive and SetStreamOffline change
// that) and moderator moderates broadcaster (AddModerator adds more). Stream
// titles, games, languages and tags are the channel's, which PATCH
// /helix/channels changes (game_id from a small catalogue of Twitch
// category IDs; "" or "0" unsets). Cursors are opaque base64 strings, and
// "pagination" is {} on the last page; only "after" is supported, not
// "before". Get Extension Live Channels' pagination is the cursor string,
// as on Twitch. Banning a banned user answers 400; a timeout may be replaced
// by a ban or a new timeout, and ends by itself. PUT /helix/users/extensions
// accepts only registered extension clients as id. Account creation dates
// are derived from the user ID. Helix data other than extension secrets is
// not persisted.
//
// # Requirements
//
// Each Helix endpoint's requirement is data in the endpoint table: the token
// kinds it takes and the scopes a user token needs, as Twitch's API reference
// states them (docs/protocol.md#scopes). Helix enforces exactly that data,
// and GET /_sandbox/requirements (any caller; nothing secret) publishes it,
// so a client can compare its own knowledge with the sandbox's without
// sharing code: this module's scopes package does, in its tests. The answer
// is
//
//	{"helix": [{"method": "GET", "path": "/moderation/moderators",
//	            "tokens": ["user"], "extension_scheme": false,
//	            "scopes": [["moderation:read", "channel:manage:moderators"]],
//	            "optional_scopes": []}, …],
//	 "scopes": [{"name": "analytics:read:extensions", "description": "…"}, …]}
//
// with one "helix" entry per endpoint; "path" is relative to /helix. "tokens" lists the bearer tokens accepted: "app",
// "user", "extension_jwt" (signed by the extension backend, role
// external); "extension_scheme" says whether Authorization: Extension
// <Helix JWT> is. "scopes" is what a user token needs, in conjunctive normal
// form: every inner list must be met by one of its scopes ([] when no scope
// is needed; [["a"],["b"]] is a and b; [["a","b"]] is a or b).
// "optional_scopes" add data to the answer (user:read:email adds the email to
// Get Users). "scopes" at the top level is the catalogue the sandbox accepts
// at /oauth2/authorize and in MintUserToken, sorted by name: the scopes
// Twitch's scopes page lists, rows marked deprecated left out, plus openid.
// "eventsub" lists the subscription types POST /helix/eventsub/subscriptions
// accepts, in the order of the sandbox's table:
//
//	{"type": "channel.follow", "version": "2",
//	 "condition": ["broadcaster_user_id", "moderator_user_id"], "optional_condition": [],
//	 "authorized_by": "moderator_user_id", "scopes": [["moderator:read:followers"]],
//	 "client_condition": false}
//
// "authorized_by" names the condition field of the user whose grant to the
// client the subscription needs ("" for none) and "scopes" what that grant
// must hold; "client_condition" says condition.client_id must be the app
// token's client.
//
// # Extensions
//
// Each extension client has shared secrets (32 random bytes, shown base64),
// created on first use, active from creation and expiring after 100 years.
// RotateExtensionSecret(id, delay) and POST
// /helix/extensions/jwt/secrets?delay= add a secret that becomes active
// after delay (the API reference: the delay postpones activation; minimum
// and default 300 s over HTTP, 0 allowed in Go, which is the console's
// "Create New Secret"); every older secret then expires one hour after the
// new one becomes active (the console's "one hour";
// WithExtensionSecretOverlap). Tokens verify with any secret in its active
// window; the sandbox signs with the active secret that expires last.
// Expired secrets are dropped from answers. Secrets persist in the state
// file.
//
// MintExtensionJWT mints the front-end token (roles broadcaster, moderator,
// viewer: opaque_user_id "U"+user ID when identity is shared, else a new
// "A…" ID; default pubsub_perms listen broadcast, global and the viewer's
// whisper topic, broadcasters may also send to broadcast and whisper-*;
// is_unlinked as a boolean) and EBS tokens (role external, no default
// perms). MintHelixJWT mints the helixToken: opaque_user_id, client_id,
// created_at and exp (user_id when given). Both are HS256 with typ JWT, one
// hour by default. POST /_sandbox/extension/jwt takes {"client_id",
// "channel_id","role","user_id","opaque_user_id","is_unlinked",
// "pubsub_perms","ttl" (seconds)} and answers {"client_id","channel_id",
// "role","user_id","opaque_user_id","token","helix_token" (front-end roles
// only),"exp"}; it answers loopback callers only (403 otherwise). Messages
// sent through PubSub and extension chat are kept (the last 1,000) for
// PubSubMessages and ExtensionChatMessages.
//
// # Developer console
//
// The sandbox's counterpart of dev.twitch.tv/console registers
// applications the way Twitch's does. Its applications are the sandbox's
// clients (the same state as WithClient and AddClient), so an ID and
// secret from the console work at once with /oauth2/token, the CLI and the
// broker. ConsoleURL returns its address.
//
//	GET       /console/                          the signed-in user's applications and extensions
//	GET, POST /console/signin                    pick a sandbox user; POST /console/signout
//	GET, POST /console/apps/new                  Register Your Application (?type=extension: Create Extension)
//	GET, POST /console/apps/{id}                 Manage: rename, category, add/remove redirect URLs
//	POST      /console/apps/{id}/secret          New Secret: a confirmation page; with confirm=yes it rotates (shown once)
//	POST      /console/apps/{id}/extension-secret  an extension's Create New Secret
//	POST, DELETE /console/api/session            {"login"} → {"token","token_type","login","user_id","expires_in"}
//	GET, POST /console/api/apps                  list {"data":[…]}; register {"name","redirect_urls","category","client_type"} (201)
//	GET, PATCH /console/api/apps/{id}            show; change {"name","redirect_urls","category"} (absent = unchanged)
//	POST      /console/api/apps/{id}/secret      {"client_id","client_secret"}
//	GET, POST /console/api/apps/{id}/extension-secrets  {"client_id","secrets":[{"content","active_at","expires_at"}]}
//
// WithConsoleHome adds a link back to the program running the sandbox to
// every console page (`twitchauth serve --sandbox` links the broker). New
// Secret asks for confirmation on a page of its own before it rotates.
//
// Sign-in: the form sets an HttpOnly, SameSite=Lax cookie (path /console/)
// for ConsoleSessionLifetime (12 h); POST /console/api/session issues a
// console token for Authorization: Bearer, to loopback callers only.
// Sessions live in memory and end with the process. Cross-origin browser
// POSTs are refused (http.CrossOriginProtection), for the forms and for the
// API used with the cookie. The API answers {"status":N,"message":"…"}
// (plus "field" naming the input at fault): 401 without a sign-in, 400 for
// malformed JSON, unknown fields or refused input, 409 for a name taken,
// 404 for applications of other users, 415 for a body that is not JSON.
// Pages show the same refusals as friendly errors, keeping what was typed.
//
// Rules (Twitch's wording where it is recorded; the rest are choices):
//
//   - Names are unique among all applications, case-insensitively, 3 to
//     100 characters (the length is a third-party note, UNCONFIRMED).
//   - OAuth Redirect URLs: 1 to 10 absolute URLs, each listed once, without
//     fragment or user info ("invalid redirect URI provided"); https unless
//     the host is localhost ("Redirect URIs must use HTTPS protocol.";
//     Twitch answers it for http://x.localhost, twitchdev/issues#342; that
//     it refuses http://127.0.0.1 too is UNCONFIRMED, the sandbox does).
//     URLs are stored exactly as typed and matched exactly: third-party
//     reports show Twitch's console keeping a trailing slash, so the
//     sandbox accepts one too and warns that the app must then send it.
//   - Categories: AppCategories(); extensions get "Extension". The client
//     type (confidential or public; extension from the extension form)
//     cannot change after registration.
//   - Confidential and extension clients get a secret at registration,
//     shown once, as after New Secret; afterwards pages show only a mask
//     that reveals no character, and the API never returns it again. New
//     Secret (RotateClientSecret) replaces the secret at once: token
//     requests with the old one get 403 "invalid client secret". Tokens
//     issued before stay valid. Public clients have no secret.
//   - An extension's Create New Secret is RotateExtensionSecret(id, 0): the
//     new secret is active at once and older ones stay valid for one hour
//     (WithExtensionSecretOverlap).
//   - Users see and manage the applications they registered, and those no
//     console user owns (created by options, flags or AddClient), which
//     every signed-in user may manage. Others' applications answer 404.
//
// RegisterApp, UpdateClient and RotateClientSecret are the console's rules
// in Go; AddClient and WithClient skip them, for fixtures. Redirect URLs a
// client already has are not checked again when it is updated, so fixture
// clients stay manageable in the console.
//
// # EventSub
//
// Webhook subscriptions follow docs/protocol.md#eventsub: POST with an app
// token of the client named by Client-Id (a user token gets 401 "Webhook
// and conduit subscriptions require an app access token."), a known type
// and version, a condition with exactly the type's fields (users must
// exist), a secret of 10 to 100 ASCII characters, and answers 202 with the
// subscription webhook_callback_verification_pending, total, total_cost and
// max_total_cost. user.authorization.grant and .revoke need condition
// client_id equal to the token's client (403 otherwise); types that need
// the user's authorization (channel.follow v2: moderator_user_id with
// moderator:read:followers; channel.subscribe, channel.ban,
// channel.moderator.add/remove and channel points redemptions: the
// broadcaster with the type's scope) need that user's grant to the client
// (403 "The access token is missing the required scopes." otherwise); the
// token's own scopes do not matter. Also served: stream.online,
// stream.offline, channel.update v2, user.update. A live subscription
// (enabled or pending) with the same type, version, condition and callback
// is a 409; a fourth one sharing type, version and condition a 429. GET
// takes at most one of status, type, user_id (any *_user_id of the
// condition) and subscription_id, returns 100 a page oldest first with
// "pagination":{} on the last, and counts total over all the client's
// subscriptions and total_cost over the live ones. EventSubSubscriptions
// and EventSubDeliveries show the state in Go.
//
// After the 202 the sandbox POSTs the challenge to the callback; 200 with
// the exact challenge as the body enables the subscription, anything else
// (or no answer within the timeout) makes it
// webhook_callback_verification_failed. Only enabled subscriptions get
// notifications. Every delivery carries Content-Type: application/json and
// the Twitch-Eventsub-Message-Id, -Retry, -Type, -Timestamp (RFC 3339, UTC,
// nanoseconds), -Signature (sha256= and the lowercase hex HMAC-SHA256 of
// id, timestamp and body under the subscription's secret),
// -Subscription-Type and -Version headers. A user who disconnects an app
// (the Connections page, POST /_sandbox/connections/revoke, Disconnect or
// RevokeGrant) loses the grant and every token of it; the client's enabled
// user.authorization.revoke subscriptions get the notification, and its
// live subscriptions that needed that user's grant become
// authorization_revoked with a revocation message. A grant that did not
// exist before (the first consent, or one after a disconnect) delivers
// user.authorization.grant.
//
// Choices where Twitch is silent (UNCONFIRMED on Twitch, kept here in one
// place; EventSubConfig changes the numbers):
//
//   - Deliveries: a callback has 5 s to answer (Twitch: "a few seconds"); a
//     notification that fails (no 2xx, no answer, an error) is sent again
//     up to 3 times after 1 s, 2 s and 4 s, with the same Message-Id,
//     timestamp and signature and Message-Retry counting the attempts
//     (0, 1, …). 5 consecutive failed attempts end the subscription with
//     notification_failures_exceeded and one revocation message; a success
//     resets the count. Challenges and revocations are sent once.
//   - The challenge's answer is judged on its status (200) and body (the
//     challenge byte for byte); its Content-Type is not checked.
//   - A revoke delivers the user.authorization.revoke notification first,
//     then the revocations; they travel independently, so a receiver may
//     see them in any order. Subscriptions that need no authorization
//     (stream.online, …) stay enabled after a revoke. A grant that only
//     adds scopes delivers nothing; a refresh-token reuse that revokes a
//     public client's grant counts as a disconnect.
//   - Cost: 0 for types needing authorization and for any type whose
//     condition user authorized the client; 1 otherwise; max_total_cost is
//     10000 (the documentation's example figure) and going over it is a
//     429.
//   - Error wording the sandbox chose: "The combination of values in the
//     type and version fields is not valid.", "The condition's X field is
//     missing or empty.", "The condition field "X" is not valid for T.",
//     "The condition's X field does not name a user.", "Missing required
//     parameter "id"", "The request must specify at most one of status,
//     type, user_id and subscription_id.", and 429 "The request exceeds the
//     number of subscriptions that you may create with the same combination
//     of type and condition values."
//
// Callbacks must be loopback hosts (127.0.0.0/8, ::1, localhost), over
// plain http or https on any port; any other host is a 400 "The sandbox
// delivers only to loopback callbacks …": the sandbox never sends traffic
// off the machine. The default delivery client trusts only the system
// roots (EventSubConfig.Client takes one with your test CA). Only the
// webhook transport exists (websocket and conduit are a 400). These are
// differences from Twitch, listed with the others in docs/sandbox.md.
// Subscriptions, with their secrets, persist in the state file; one whose
// challenge was in flight gets it again at start. The Connections page
// signs in with the consent page's cookie (twitchtest_login); its forms
// refuse cross-origin POSTs.
//
// # State
//
// Everything lives in memory behind one RWMutex; validate is a map lookup
// under a read lock and no password hashing is done. WithStateFile persists
// clients (the console's applications with their owner, category and
// current secret), users, consents, live tokens, extension secrets, EventSub
// subscriptions and the signing key to a JSON file
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
