// Package scopes knows what every Helix endpoint and every EventSub
// subscription type requires of its token: which kinds of token it accepts
// (app, user, extension JWT), the scopes it needs with their real logic (all
// of, any of), whose grant they must be in (the user, the broadcaster, a
// moderator, an editor) and the extra grants an app token needs (Send Chat
// Message with an app token needs user:bot from the sender and channel:bot
// from the broadcaster).
//
// The table is generated from Twitch's API reference, EventSub subscription
// types and scopes pages (see Source for the copy it was made from and its
// date) by internal/gen/scopes, with a few hand-made corrections, each citing
// its source, in internal/gen/scopes/overrides.go. Every scope name in it is
// one the scopes page lists. The facts it relies on, and their sources, are
// in docs/protocol.md#scopes.
//
// Look a requirement up by method and path (Endpoint), by EventSub type
// (EventSub) or by its written name (Lookup: "POST /chat/messages",
// "channel.chat.message", "channel.moderate v2"), and compute the smallest
// set of scopes a user token needs for the endpoints an application calls
// with For:
//
//	need, err := scopes.For("POST /chat/messages", "GET /polls")
//	// need == []string{"channel:read:polls", "user:write:chat"}
//
// The package is pure data and computation: it imports nothing of this
// module, does no I/O and never sees a token. The Transport of package
// twitchauth uses it to refuse, before sending, a request that a user
// token's scopes cannot satisfy; the CLI prints it (`twitchauth scopes`).
package scopes
