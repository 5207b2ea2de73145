// Package rig is a local stand-in for Twitch's extension environment: an
// HTTP handler that serves an extension's front-end folder inside a page
// that looks like a channel (player placeholder, chat column, the extension's
// iframe), with a control bar to choose who is watching.
//
// The rig emulates, offline and against the twitchtest sandbox:
//
//   - Twitch's extension helper (window.Twitch.ext): the front end's
//     <script src="https://extension-files.twitch.tv/helper/v1/twitch-ext.min.js">
//     is rewritten to the rig's own implementation (or one is injected when
//     the page has none). It mints the viewer's tokens at the sandbox
//     (onAuthorized's token and helixToken), refreshes them before they
//     expire and fires onAuthorized again, as Twitch does; it also provides
//     onContext, onError, viewer, configuration, listen/unlisten/send and
//     actions.requestIdShare.
//   - Helix for the front end: fetch calls to https://api.twitch.tv/helix are
//     redirected to the rig's /helix/ path, which forwards them to the
//     sandbox (Authorization: Extension <helixToken>, the 30-per-minute
//     viewer bucket).
//   - Extension PubSub: a relay in the rig (send posts to the rig, listeners
//     read a server-sent event stream); real Twitch delivers through PubSub.
//   - The configuration service: broadcaster, developer and global
//     segments, kept in memory.
//   - Faults: an already-expired token on the next onAuthorized, and an
//     exhausted viewer bucket at the sandbox, to test 401 and 429 handling.
//
// It also serves twitchauth-ext.js, a small helper for extension front ends
// (fetchHelix, fetchEBS) that works on Twitch as well: see HelperJS.
//
// The handler uses relative URLs only, so it can be mounted under any path
// prefix with http.StripPrefix. Its paths, relative to where it is mounted:
//
//	GET  /                      the channel page (query: view, viewer, identity, theme)
//	GET  /ext/{file}            the extension's files; HTML gets the helper script and a CSP
//	GET  /rig/{asset}           twitch-ext.min.js (the stand-in), twitchauth-ext.js, the page's JS and CSS
//	     /helix/...             forwarded to the sandbox's Helix
//	GET  /api/info              extension client ID, channel, users, views, EBS URL, lifetimes
//	POST /api/auth              mint onAuthorized's tokens for a viewer
//	POST /api/exhaust           burn a viewer's Helix bucket at the sandbox
//	GET  /api/config            configuration segments
//	PUT  /api/config            set a segment as the developer console would
//	POST /api/config/set        Twitch.ext.configuration.set (broadcaster token, broadcaster segment)
//	POST /api/pubsub/send       Twitch.ext.send (token with send permission)
//	POST /api/pubsub/publish    a message as the EBS would send it (no token)
//	POST /api/pubsub/listen     server-sent events for the token's listen permissions
//
// What the package owns: the rig's pages, its JavaScript and its in-memory
// PubSub and configuration state. What it must not touch: it never signs
// tokens itself (every JWT comes from the sandbox, in process or over HTTP)
// and it does not import the twitchauth client (root package) nor the
// extension package: a developer's EBS verifies the rig's tokens exactly as
// it verifies Twitch's.
package rig
