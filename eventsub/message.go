package eventsub

import (
	"bytes"
	"encoding/json"
	"time"
)

// Header names of an EventSub webhook message (docs/protocol.md#eventsub),
// in net/http's canonical form.
const (
	HeaderMessageID           = "Twitch-Eventsub-Message-Id"
	HeaderMessageRetry        = "Twitch-Eventsub-Message-Retry"
	HeaderMessageType         = "Twitch-Eventsub-Message-Type"
	HeaderMessageSignature    = "Twitch-Eventsub-Message-Signature"
	HeaderMessageTimestamp    = "Twitch-Eventsub-Message-Timestamp"
	HeaderSubscriptionType    = "Twitch-Eventsub-Subscription-Type"
	HeaderSubscriptionVersion = "Twitch-Eventsub-Subscription-Version"
)

// MessageType is the Twitch-Eventsub-Message-Type of a webhook message.
type MessageType string

// The webhook message types.
const (
	// MessageNotification carries an event.
	MessageNotification MessageType = "notification"
	// MessageVerification carries the challenge Twitch sends once after a
	// webhook subscription is created.
	MessageVerification MessageType = "webhook_callback_verification"
	// MessageRevocation says Twitch ended a subscription; Subscription.Status
	// says why.
	MessageRevocation MessageType = "revocation"
)

// Message is a verified EventSub webhook message.
type Message struct {
	// ID is Twitch-Eventsub-Message-Id: unique per message, kept by resends.
	ID string
	// Type is the message type.
	Type MessageType
	// Timestamp is when Twitch sent the message.
	Timestamp time.Time
	// Retry is Twitch-Eventsub-Message-Retry as sent (its meaning is not
	// documented; twitch-cli sends "0").
	Retry string
	// Subscription is the subscription the message belongs to. Its
	// Transport never carries the secret.
	Subscription Subscription
	// Event is the raw event object of a notification (nil otherwise).
	Event json.RawMessage
	// Challenge is the challenge of a verification message.
	Challenge string
	// Body is the raw body that was verified.
	Body []byte
}

// Status is a subscription's status.
type Status string

// Subscription statuses (docs/protocol.md#eventsub). A revocation message's
// Subscription.Status is one of StatusAuthorizationRevoked, StatusUserRemoved,
// StatusNotificationFailuresExceeded or StatusVersionRemoved.
const (
	StatusEnabled                            Status = "enabled"
	StatusWebhookCallbackVerificationPending Status = "webhook_callback_verification_pending"
	StatusWebhookCallbackVerificationFailed  Status = "webhook_callback_verification_failed"
	StatusNotificationFailuresExceeded       Status = "notification_failures_exceeded"
	StatusAuthorizationRevoked               Status = "authorization_revoked"
	StatusModeratorRemoved                   Status = "moderator_removed"
	StatusUserRemoved                        Status = "user_removed"
	StatusVersionRemoved                     Status = "version_removed"
	StatusBetaMaintenance                    Status = "beta_maintenance"
)

// Subscription is an EventSub subscription as Twitch describes it in
// messages and in the subscriptions API.
type Subscription struct {
	ID        string    `json:"id"`
	Status    Status    `json:"status"`
	Type      string    `json:"type"`
	Version   string    `json:"version"`
	Condition Condition `json:"condition"`
	Transport Transport `json:"transport"`
	CreatedAt time.Time `json:"created_at"`
	Cost      int       `json:"cost"`
}

// Condition is a subscription's condition, such as
// {"client_id": "…"} or {"broadcaster_user_id": "…"}. Twitch's conditions
// are strings; any other JSON value is kept as its JSON text.
type Condition map[string]string

// UnmarshalJSON decodes a condition object, keeping non-string members as
// their JSON text so that a condition Twitch adds later does not break
// decoding.
func (c *Condition) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*c = nil
		return nil
	}
	var strs map[string]string
	if json.Unmarshal(data, &strs) == nil {
		*c = strs
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := make(Condition, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
		} else {
			out[k] = string(v)
		}
	}
	*c = out
	return nil
}

// Transport is how a subscription's messages are delivered.
type Transport struct {
	// Method is "webhook", "websocket" or "conduit".
	Method string `json:"method"`
	// Callback is a webhook's URL.
	Callback string `json:"callback,omitempty"`
	// Secret is a webhook's HMAC key; only sent, never returned by Twitch.
	Secret Secret `json:"secret,omitempty"`
	// SessionID is a WebSocket's session.
	SessionID string `json:"session_id,omitempty"`
	// ConduitID is a conduit's ID.
	ConduitID string `json:"conduit_id,omitempty"`
	// ConnectedAt and DisconnectedAt describe a WebSocket transport.
	ConnectedAt    *time.Time `json:"connected_at,omitempty"`
	DisconnectedAt *time.Time `json:"disconnected_at,omitempty"`
}

// Transport methods.
const (
	MethodWebhook   = "webhook"
	MethodWebSocket = "websocket"
	MethodConduit   = "conduit"
)

// Subscription types this package has typed events for.
const (
	TypeUserAuthorizationGrant  = "user.authorization.grant"
	TypeUserAuthorizationRevoke = "user.authorization.revoke"
)

// AuthorizationGrantEvent is the event of user.authorization.grant (version
// 1): a user authorized ClientID.
type AuthorizationGrantEvent struct {
	ClientID  string `json:"client_id"`
	UserID    string `json:"user_id"`
	UserLogin string `json:"user_login"`
	UserName  string `json:"user_name"`
}

// AuthorizationRevokeEvent is the event of user.authorization.revoke
// (version 1): a user revoked ClientID's access, or the user no longer
// exists. Twitch sends user_login and user_name as null when the user no
// longer exists; they are then empty. Key on ClientID and UserID.
type AuthorizationRevokeEvent struct {
	ClientID  string `json:"client_id"`
	UserID    string `json:"user_id"`
	UserLogin string `json:"user_login"`
	UserName  string `json:"user_name"`
}

// wireMessage is a message body.
type wireMessage struct {
	Subscription *Subscription   `json:"subscription"`
	Event        json.RawMessage `json:"event"`
	Challenge    *string         `json:"challenge"`
}
