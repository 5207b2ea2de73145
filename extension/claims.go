package extension

import (
	"encoding/json"
	"errors"
	"time"
)

// Role is the role claim of an extension JWT.
type Role string

// The roles Twitch puts in extension JWTs.
const (
	// RoleBroadcaster is the channel's owner viewing their own channel.
	RoleBroadcaster Role = "broadcaster"
	// RoleModerator is a moderator of the channel.
	RoleModerator Role = "moderator"
	// RoleViewer is any other viewer, logged in or anonymous.
	RoleViewer Role = "viewer"
	// RoleExternal is an extension backend (EBS) calling Twitch or itself.
	RoleExternal Role = "external"
)

// AllRoles lists every role Twitch documents, the default set a Verifier accepts.
var AllRoles = []Role{RoleBroadcaster, RoleModerator, RoleViewer, RoleExternal}

// Bool is a JSON boolean that also accepts the strings "true" and "false":
// Twitch's documented example payload carries is_unlinked as a string while
// the claim table calls it a boolean. It marshals as a plain boolean.
type Bool bool

// UnmarshalJSON accepts true, false, "true", "false" and null (no change).
func (b *Bool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`:
		*b = false
	case "null":
	default:
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return errors.New("extension: boolean claim is neither a boolean nor \"true\"/\"false\"")
		}
		switch s { // escaped spellings such as "tru\u0065"
		case "true":
			*b = true
		case "false":
			*b = false
		default:
			return errors.New("extension: boolean claim is neither a boolean nor \"true\"/\"false\"")
		}
	}
	return nil
}

// PubSubPerms lists the Extension PubSub targets a token may listen to and
// send to, such as "broadcast", "global" or "whisper-<opaque id>"; "*" is a
// wildcard.
type PubSubPerms struct {
	Listen []string `json:"listen,omitempty"`
	Send   []string `json:"send,omitempty"`
}

// Claims is the payload of a Twitch extension JWT (and of the Helix JWT an
// extension front end receives as auth.helixToken). Unknown claims are ignored.
type Claims struct {
	// Exp is the expiry, in seconds since the Unix epoch (required).
	Exp int64 `json:"exp,omitempty"`
	// OpaqueUserID identifies the viewer: "U…" stays the same for a logged-in
	// user, "A…" is an anonymous, transient viewer. Backend tokens leave it blank.
	OpaqueUserID string `json:"opaque_user_id,omitempty"`
	// UserID is the viewer's Twitch user ID, present only when they shared
	// their identity; in a backend token, the user ID that owns the extension.
	UserID string `json:"user_id,omitempty"`
	// ChannelID is the ID of the channel showing the extension.
	ChannelID string `json:"channel_id,omitempty"`
	// Role is who the token speaks for.
	Role Role `json:"role,omitempty"`
	// IsUnlinked is true when the user once shared their identity and has
	// since revoked it.
	IsUnlinked Bool `json:"is_unlinked,omitempty"`
	// PubSubPerms are the Extension PubSub permissions.
	PubSubPerms PubSubPerms `json:"pubsub_perms,omitzero"`

	// ClientID is the extension's client ID; Twitch sets it in Helix JWTs.
	ClientID string `json:"client_id,omitempty"`
	// CreatedAt is when Twitch issued a Helix JWT, in seconds since the epoch.
	CreatedAt int64 `json:"created_at,omitempty"`
}

// ExpiresAt returns Exp as a time, or the zero time when Exp is unset.
func (c *Claims) ExpiresAt() time.Time {
	if c.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(c.Exp, 0)
}

// Linked reports whether the viewer shares their identity (UserID is set).
func (c *Claims) Linked() bool { return c.UserID != "" }

// Anonymous reports whether the viewer is not logged in to Twitch: their
// opaque user ID starts with "A".
func (c *Claims) Anonymous() bool {
	return len(c.OpaqueUserID) > 0 && c.OpaqueUserID[0] == 'A'
}
