package twitchtest

import "strings"

// scopeCatalogue lists the Twitch scope names the sandbox accepts, with the
// short description shown on the consent page: the scopes Twitch's scopes
// page lists (docs/protocol.md#scopes), rows marked deprecated left out,
// plus openid (OpenID Connect, docs/protocol.md#oidc). Requests naming any
// other scope are refused, as Twitch refuses unknown scopes. GET
// /_sandbox/requirements publishes the names, and a test outside the
// package compares them with the client's list.
var scopeCatalogue = map[string]string{
	"analytics:read:extensions":         "View analytics data for the Twitch Extensions owned by the authorized account",
	"analytics:read:games":              "View analytics data for the games owned by the authorized account",
	"bits:read":                         "View Bits information for a channel",
	"channel:bot":                       "Join your channel's chatroom as a bot user",
	"channel:edit:commercial":           "Run commercials on a channel",
	"channel:manage:ads":                "Manage ads schedule on a channel",
	"channel:read:ads":                  "Read the ads schedule and details on your channel",
	"channel:manage:broadcast":          "Manage a channel's broadcast configuration, including stream markers and tags",
	"channel:read:charity":              "Read charity campaign details and donations on your channel",
	"channel:manage:clips":              "Manage clips for a channel",
	"channel:read:editors":              "View a list of users with the editor role for a channel",
	"channel:manage:extensions":         "Manage a channel's Extension configuration",
	"channel:read:goals":                "View Creator Goals for a channel",
	"channel:read:guest_star":           "Read Guest Star details for your channel",
	"channel:manage:guest_star":         "Manage Guest Star for your channel",
	"channel:read:hype_train":           "View Hype Train information for a channel",
	"channel:manage:moderators":         "Add or remove the moderator role from users in your channel",
	"channel:read:polls":                "View a channel's polls",
	"channel:manage:polls":              "Manage a channel's polls",
	"channel:read:predictions":          "View a channel's Channel Points Predictions",
	"channel:manage:predictions":        "Manage a channel's Channel Points Predictions",
	"channel:manage:raids":              "Manage a channel raiding another channel",
	"channel:read:redemptions":          "View Channel Points custom rewards and their redemptions on a channel",
	"channel:manage:redemptions":        "Manage Channel Points custom rewards and their redemptions on a channel",
	"channel:manage:schedule":           "Manage a channel's stream schedule",
	"channel:read:stream_key":           "View an authorized user's stream key",
	"channel:read:subscriptions":        "View a list of all subscribers to a channel and check if a user is subscribed",
	"channel:manage:videos":             "Manage a channel's videos, including deleting videos",
	"channel:read:vips":                 "Read the list of VIPs in your channel",
	"channel:manage:vips":               "Add or remove the VIP role from users in your channel",
	"channel:moderate":                  "Perform moderation actions in a channel",
	"chat:edit":                         "Send chat messages to a chatroom using an IRC connection",
	"chat:read":                         "View chat messages sent in a chatroom using an IRC connection",
	"clips:edit":                        "Manage Clips for a channel",
	"editor:manage:clips":               "Manage Clips as an editor",
	"moderation:read":                   "View a channel's moderation data including Moderators, Bans, Timeouts, and AutoMod settings",
	"moderator:manage:announcements":    "Send announcements in channels where you have the moderator role",
	"moderator:manage:automod":          "Manage messages held for review by AutoMod in channels where you are a moderator",
	"moderator:read:automod_settings":   "View a broadcaster's AutoMod settings",
	"moderator:manage:automod_settings": "Manage a broadcaster's AutoMod settings",
	"moderator:read:banned_users":       "Read the list of bans or unbans in channels where you have the moderator role",
	"moderator:manage:banned_users":     "Ban and unban users",
	"moderator:read:blocked_terms":      "View a broadcaster's list of blocked terms",
	"moderator:manage:blocked_terms":    "Manage a broadcaster's list of blocked terms",
	"moderator:read:chat_messages":      "Read deleted chat messages in channels where you have the moderator role",
	"moderator:manage:chat_messages":    "Delete chat messages in channels where you have the moderator role",
	"moderator:read:chat_settings":      "View a broadcaster's chat room settings",
	"moderator:manage:chat_settings":    "Manage a broadcaster's chat room settings",
	"moderator:read:guest_star":         "Read Guest Star details for channels where you are a Guest Star moderator",
	"moderator:manage:guest_star":       "Manage Guest Star for channels where you are a Guest Star moderator",
	"moderator:read:chatters":           "View the chatters in a broadcaster's chat room",
	"moderator:read:followers":          "Read the followers of a broadcaster",
	"moderator:read:moderators":         "Read the list of moderators in channels where you have the moderator role",
	"moderator:read:shield_mode":        "View a broadcaster's Shield Mode status",
	"moderator:manage:shield_mode":      "Manage a broadcaster's Shield Mode status",
	"moderator:read:shoutouts":          "View a broadcaster's shoutouts",
	"moderator:manage:shoutouts":        "Manage a broadcaster's shoutouts",
	"moderator:read:suspicious_users":   "Read chat messages from suspicious users",
	"moderator:manage:suspicious_users": "Manage suspicious user statuses in channels where you have the moderator role",
	"moderator:read:unban_requests":     "View a broadcaster's unban requests",
	"moderator:manage:unban_requests":   "Manage a broadcaster's unban requests",
	"moderator:read:vips":               "Read the list of VIPs in channels where you have the moderator role",
	"moderator:read:warnings":           "Read warnings in channels where you have the moderator role",
	"moderator:manage:warnings":         "Warn users in channels where you have the moderator role",
	"openid":                            "Sign in with Twitch (OpenID Connect)",
	"user:bot":                          "Join a specified chat channel as your user and appear as a bot",
	"user:edit":                         "Manage a user object",
	"user:edit:broadcast":               "View and edit a user's broadcasting configuration",
	"user:read:blocked_users":           "View the block list of a user",
	"user:manage:blocked_users":         "Manage the block list of a user",
	"user:read:broadcast":               "View a user's broadcasting configuration",
	"user:read:chat":                    "Receive chatroom messages and informational notifications relating to a channel's chatroom",
	"user:manage:chat_color":            "Update the color used for the user's name in chat",
	"user:read:email":                   "View a user's email address",
	"user:read:emotes":                  "View emotes available to a user",
	"user:read:follows":                 "View the list of channels a user follows",
	"user:read:moderated_channels":      "Read the list of channels you have moderator privileges in",
	"user:read:subscriptions":           "View if an authorized user is subscribed to specific channels",
	"user:read:whispers":                "Receive whispers sent to your user",
	"user:manage:whispers":              "Receive whispers sent to your user, and send whispers on your user's behalf",
	"user:write:chat":                   "Send chat messages to a chatroom",
	"whispers:read":                     "View your whisper messages",
}

// KnownScope reports whether scope is in the sandbox's catalogue of Twitch
// scope names.
func KnownScope(scope string) bool {
	_, ok := scopeCatalogue[scope]
	return ok
}

// parseScopes splits a space-delimited scope list (Twitch also tolerates '+'
// once URL-decoded as spaces), drops duplicates and returns the scopes in the
// order given plus the names not in the catalogue.
func parseScopes(raw string) (scopes, unknown []string) {
	seen := make(map[string]bool)
	for _, sc := range strings.Fields(raw) {
		if seen[sc] {
			continue
		}
		seen[sc] = true
		if KnownScope(sc) {
			scopes = append(scopes, sc)
		} else {
			unknown = append(unknown, sc)
		}
	}
	return scopes, unknown
}

// hasScope reports whether scopes contains want.
func hasScope(scopes []string, want string) bool {
	for _, s := range scopes {
		if s == want {
			return true
		}
	}
	return false
}

// coversScopes reports whether have contains every scope of want.
func coversScopes(have, want []string) bool {
	for _, w := range want {
		if !hasScope(have, w) {
			return false
		}
	}
	return true
}

// unionScopes returns the scopes of a followed by those of b not in a.
func unionScopes(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, s := range b {
		if !hasScope(out, s) {
			out = append(out, s)
		}
	}
	return out
}
