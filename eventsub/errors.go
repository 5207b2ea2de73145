package eventsub

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/twitchauth/twitchauth"
)

// Errors of the Verifier and the Handler, to match with errors.Is. The
// Handler answers each with the status given.
var (
	// ErrMalformed: a header is missing or malformed, or the body is not
	// an EventSub message (400).
	ErrMalformed = errors.New("eventsub: malformed message")
	// ErrSignature: the signature is missing or matches no secret in force
	// (403). Check that the subscription was created with one of the
	// Verifier's secrets.
	ErrSignature = errors.New("eventsub: message signature matches no webhook secret in force")
	// ErrStale: the message is older than MaxAge and is refused as a
	// possible replay (400).
	ErrStale = errors.New("eventsub: message timestamp too old")
	// ErrFuture: the timestamp lies further ahead than MaxFutureSkew (400).
	ErrFuture = errors.New("eventsub: message timestamp in the future")
	// ErrDuplicate: a message with this ID was accepted before. The Handler
	// acknowledges it (2xx) without processing it again.
	ErrDuplicate = errors.New("eventsub: duplicate message")
	// ErrSeenStore: the SeenStore failed; the message was not processed
	// (the Handler answers 503 so that Twitch sends it again).
	ErrSeenStore = errors.New("eventsub: seen-message store failed")
	// ErrTooLarge: the body exceeds the Handler's MaxBodyBytes (413).
	ErrTooLarge = errors.New("eventsub: message body too large")
)

// Errors of the subscriptions client, to match with errors.Is. An
// *APIError also matches the root package's errors (twitchauth.ErrUnauthorized
// for a 401, twitchauth.ErrRateLimited for a 429) and unwraps to the
// *twitchauth.HelixError Twitch sent.
var (
	// ErrInvalidSubscription: the request was refused as malformed (400),
	// or refused before sending (a missing field, a secret Twitch would
	// refuse). The message says which field.
	ErrInvalidSubscription = errors.New("eventsub: invalid subscription request")
	// ErrForbidden: the user named in the condition has not authorized
	// this client for the type, or the token lacks a scope it needs (403).
	ErrForbidden = errors.New("eventsub: subscription not authorized")
	// ErrSubscriptionExists: a subscription with this type, version and
	// condition exists already (409).
	ErrSubscriptionExists = errors.New("eventsub: subscription already exists")
	// ErrTooManySubscriptions: too many subscriptions share this type,
	// version and condition, or the cost limit is reached (429).
	ErrTooManySubscriptions = errors.New("eventsub: too many subscriptions")
	// ErrSubscriptionNotFound: no subscription has this ID (404).
	ErrSubscriptionNotFound = errors.New("eventsub: subscription not found")
)

// ErrSecretInvalid means a secret is not 10 to 100 printable ASCII
// characters.
var ErrSecretInvalid = errors.New("eventsub: invalid webhook secret")

// APIError is a refusal of the subscriptions API.
type APIError struct {
	// Op is "create", "list" or "delete".
	Op string
	// Helix is Twitch's answer.
	Helix *twitchauth.HelixError

	kind error
}

// Error says what was refused, what Twitch said and what to do.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "eventsub: %s subscription refused: %v", e.Op, e.Helix)
	switch e.kind {
	case ErrSubscriptionExists:
		b.WriteString(": list the subscriptions and reuse or delete the existing one")
	case ErrForbidden:
		b.WriteString(": the user in the condition must authorize this client with the scopes the type needs")
	case ErrTooManySubscriptions:
		b.WriteString(": at most 3 subscriptions may share type, version and condition; delete unused ones")
	case nil:
		if e.Helix.Status == http.StatusUnauthorized {
			b.WriteString(": webhook and conduit subscriptions need an app access token of the client named by Client-Id")
		}
	}
	return b.String()
}

// Unwrap returns the package sentinel for the status and Twitch's answer.
func (e *APIError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.Helix}
	}
	return []error{e.kind, e.Helix}
}
