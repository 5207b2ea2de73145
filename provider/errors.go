package provider

import (
	"errors"
	"fmt"
)

// Errors of the Provider. They match with errors.Is.
var (
	// ErrUnknownSubject: the Provider holds no grant for that user or intent.
	ErrUnknownSubject = errors.New("twitchauth: no grant held for this user or intent")
	// ErrGrantRevoked: the user (or the app) revoked the grant; the user must
	// authorize again.
	ErrGrantRevoked = errors.New("twitchauth: the grant was revoked; the user must authorize again")
	// ErrGrantDead: refreshing failed permanently (Twitch refused the refresh
	// token); the user must authorize again.
	ErrGrantDead = errors.New("twitchauth: the refresh token was refused; the user must authorize again")
	// ErrIntentChanged: SetIntentIf found the intent pointing at another user
	// than the caller expected, and changed nothing.
	ErrIntentChanged = errors.New("twitchauth: the intent points at another user than expected")
	// ErrInvalidSubject: a subject's textual form is not "app",
	// "user:<id>" or "intent:<name>", or a Subject is the zero value.
	ErrInvalidSubject = errors.New("twitchauth: invalid subject")
)

// RefreshError is a failed renewal of a subject's token. Dead tells whether
// the grant is lost (Twitch refused the refresh token: the user must
// authorize again) or the failure is transient (network, 5xx, store) or a
// configuration problem (a refused client secret) that leaves the grant
// intact.
type RefreshError struct {
	// Subject is the App or a User (its store key is
	// store.GrantKey(clientID, Subject.String())).
	Subject Subject
	// Dead is true when the grant can no longer be refreshed.
	Dead bool
	// Err is the underlying error (an *APIError, a network or store error).
	Err error
}

func (e *RefreshError) Error() string {
	if e.Dead {
		return fmt.Sprintf("twitchauth: renewing the token of %s failed for good (the user must authorize again): %v", e.Subject, e.Err)
	}
	return fmt.Sprintf("twitchauth: renewing the token of %s failed (the grant is kept; will retry): %v", e.Subject, e.Err)
}

// Unwrap returns the underlying error, and ErrGrantDead for a dead grant.
func (e *RefreshError) Unwrap() []error {
	if e.Dead {
		return []error{e.Err, ErrGrantDead}
	}
	return []error{e.Err}
}
