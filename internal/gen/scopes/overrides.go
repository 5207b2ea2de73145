package main

import "github.com/twitchauth/twitchauth/scopes"

// override is a correction, made by hand, of what the generator reads in
// the reference's prose, with its source. The generator fails if an
// override names no requirement or changes nothing, so that a stale one is
// seen when the pages are read again.
type override struct {
	key    string // the requirement's Key
	source string // why, and where the fact comes from
	apply  func(r *scopes.Requirement)
}

// chatApp is the app-token rule of Twitch's chat endpoints and chat
// EventSub types: "If app access token used, then additionally requires
// user:bot scope from chatting user, and either channel:bot scope from
// broadcaster or moderator status."
func chatApp(withBroadcaster bool) func(r *scopes.Requirement) {
	return func(r *scopes.Requirement) {
		r.Role = scopes.TheUser
		r.AppGrants = []scopes.Grant{{Of: scopes.TheUser, Need: scopes.All("user:bot")}}
		if withBroadcaster {
			r.AppGrants = append(r.AppGrants, scopes.Grant{Of: scopes.Broadcaster, Need: scopes.All("channel:bot"), UnlessModerator: true})
		}
	}
}

const (
	chatAppSource       = "the app-token rule, read by hand from the Authorization prose (user:bot from the chatting user; channel:bot from the broadcaster, or moderator status)"
	chatAppSenderSource = "the app-token rule, read by hand from the Authorization prose (user:bot from the chatting user)"
)

// overrides are every hand-made correction of the table.
var overrides = []override{
	{key: "POST /chat/messages", source: chatAppSource + "; the sender's user:write:chat is needed either way (dev.twitch.tv/docs/chat/send-receive-messages/)", apply: chatApp(true)},
	{key: "channel.chat.clear v1", source: chatAppSource, apply: chatApp(true)},
	{key: "channel.chat.clear_user_messages v1", source: chatAppSource, apply: chatApp(true)},
	{key: "channel.chat.message v1", source: chatAppSource, apply: chatApp(true)},
	{key: "channel.chat.message_delete v1", source: chatAppSource, apply: chatApp(true)},
	{key: "channel.chat.notification v1", source: chatAppSource, apply: chatApp(true)},
	{key: "channel.chat_settings.update v1", source: chatAppSource, apply: chatApp(true)},
	{key: "channel.chat.user_message_hold v1", source: chatAppSenderSource, apply: chatApp(false)},
	{key: "channel.chat.user_message_update v1", source: chatAppSenderSource, apply: chatApp(false)},
	{
		key:    "POST /eventsub/subscriptions",
		source: "the scopes depend on the subscription type in the body (its own requirement); the reference's channel:read:subscriptions is an example (\"For example, to subscribe to channel.subscribe events…\")",
		apply:  func(r *scopes.Requirement) { r.Need, r.Role = nil, scopes.NoRole },
	},
	{
		key:    "GET /channels/followers",
		source: "the reference: \"If a scope is not provided or the user isn't the broadcaster or a moderator for the specified channel, only the total follower count will be included in the response\": the scope is not enforced",
		apply:  func(r *scopes.Requirement) { r.Partial = true },
	},
}
