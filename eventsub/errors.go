package eventsub

import "errors"

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
