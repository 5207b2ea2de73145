// Package broker is the twitchauth token broker: the HTTP server behind
// `twitchauth serve`. One process holds an application's Twitch tokens and
// hands them to internal services, so that only it ever sees a refresh token.
//
// It owns:
//   - the trust model (trust.go; docs/broker.md, "Trust model"): anyone may
//     connect their own account; only the operator binds or moves an intent;
//     operator actions need a session and its CSRF token, also on loopback;
//     an API key grants its permissions (one check, allowed) for its
//     subjects (subjectAllowed, before the subject is looked up) and its
//     Helix rules (helixAllowed); only the
//     public host, loopback names, IP addresses and Config.AllowedHosts are
//     answered (421 otherwise, against DNS rebinding);
//   - the web pages where users connect their Twitch account (sign-in,
//     /authorize, /callback) and where the operator lists, validates,
//     refreshes and revokes the connected accounts and assigns intents (HTML
//     templates and assets embedded with embed.FS, no script, a strict
//     Content-Security-Policy, http.CrossOriginProtection and per-session
//     CSRF tokens);
//   - the OAuth state of sign-ins in progress: valid DefaultStateTTL, held
//     by the browser in an HttpOnly SameSite=Lax cookie signed with the key
//     every replica shares through the store (SigningKeyRecord), compared in
//     constant time, spent by its callback;
//   - the JSON token API for internal services (/v1/...), guarded by API keys
//     stored as SHA-256 hashes, each with a name, permissions (Perm),
//     subjects, Helix rules, an expiry and previous values in a rotation's
//     grace period (keys.go, keyscope.go); the keys file and the store's
//     KeysRecord are read again every second, so a change applies without
//     a restart in every replica (keysource.go);
//   - the audit log (audit.go: JSON lines, fsync'd in batches, fail-closed)
//     with an entry per request made with a known key, per operator action,
//     intent change and key change; the handout metric and each account's
//     last reads (handouts.go);
//   - the Helix proxy (/helix/...), which adds Client-Id and the token of the
//     subject named by the Twitch-Subject header, for clean paths under
//     /helix/ only, and never relays a redirect;
//   - the EventSub webhook callback (/eventsub, eventsub.go; package
//     eventsub verifies the messages): a user.authorization.revoke for
//     its client ID stops the user's grant at once (Provider.MarkRevoked),
//     a grant is logged, and Run keeps the app's revoke and grant
//     subscriptions at the callback;
//   - the ?for= checks (for.go): the sign-in asks for exactly what the
//     named endpoints need, the token API refuses a grant that cannot
//     meet them (package scopes holds the requirements);
//   - /healthz, /readyz (store reachable, client credentials accepted),
//     Prometheus /metrics, the hourly validation loop and graceful shutdown.
//
// It must not touch: the OAuth protocol (package twitchauth's Config does
// the wire work, its Provider caches, refreshes and validates tokens), token
// persistence and encryption (package store), extension JWT verification
// (package extension), extension backend routes, or the sandbox (package
// twitchtest): the serve command mounts the example extension route and, in
// --sandbox mode, the sandbox's rig and example backend beside the broker
// (internal/cli/serve/sandbox.go). The broker never gives out a
// refresh token: Twitch may rotate it on every refresh (docs/protocol.md#lifetimes-and-rotation), and a second holder
// would race the broker and lose the grant.
//
// See docs/broker.md for configuration, the API and key management.
package broker
