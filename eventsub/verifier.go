package eventsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxAge is how old a message may be: Twitch tells receivers to
// refuse timestamps "older than 10 minutes".
const DefaultMaxAge = 10 * time.Minute

// DefaultMaxFutureSkew is how far in the future a timestamp may lie. Twitch
// says nothing about future timestamps; one minute absorbs ordinary clock
// skew between Twitch and the receiver without widening the replay window.
const DefaultMaxFutureSkew = time.Minute

// maxIDLen bounds Message-Id (Twitch's are UUIDs, 36 characters).
const maxIDLen = 256

// VerifierConfig configures a Verifier. Secrets is required.
type VerifierConfig struct {
	// Secrets are the webhook secrets a message may be signed with: the
	// transport.secret of each of your subscriptions. Give the old and the
	// new one while rotating; SetSecrets changes them later. Each must be
	// 10 to 100 printable ASCII characters.
	Secrets []Secret
	// MaxAge refuses messages whose timestamp is older; default
	// DefaultMaxAge (10 minutes, as Twitch asks). It must not exceed one
	// hour.
	MaxAge time.Duration
	// MaxFutureSkew refuses messages whose timestamp lies further in the
	// future; default DefaultMaxFutureSkew (1 minute).
	MaxFutureSkew time.Duration
	// Seen records accepted message IDs to refuse duplicates; default a
	// NewMemorySeenStore(DefaultMaxSeen) of this Verifier's own. Share one
	// store between processes behind one callback URL.
	Seen SeenStore
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Verifier authenticates EventSub webhook messages: the signature against
// every secret in force (constant-time), the timestamp against MaxAge and
// MaxFutureSkew, and the message ID against the seen-set. It is safe for
// concurrent use.
type Verifier struct {
	keys   atomic.Pointer[[]*key]
	mu     sync.Mutex // serialises SetSecrets
	maxAge time.Duration
	skew   time.Duration
	seen   SeenStore
	now    func() time.Time
}

// NewVerifier returns a Verifier built from cfg. It refuses a config without
// secrets or with a secret Twitch would refuse.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	v := &Verifier{maxAge: cfg.MaxAge, skew: cfg.MaxFutureSkew, seen: cfg.Seen, now: cfg.Now}
	switch {
	case v.maxAge == 0:
		v.maxAge = DefaultMaxAge
	case v.maxAge < 0 || v.maxAge > time.Hour:
		return nil, fmt.Errorf("eventsub: VerifierConfig.MaxAge %s must lie between 0 and 1h (Twitch asks for 10m)", v.maxAge)
	}
	switch {
	case v.skew == 0:
		v.skew = DefaultMaxFutureSkew
	case v.skew < 0 || v.skew > time.Hour:
		return nil, fmt.Errorf("eventsub: VerifierConfig.MaxFutureSkew %s must lie between 0 and 1h", v.skew)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.seen == nil {
		m := NewMemorySeenStore(DefaultMaxSeen)
		m.now = v.now
		v.seen = m
	}
	if err := v.SetSecrets(cfg.Secrets...); err != nil {
		return nil, err
	}
	return v, nil
}

// SetSecrets replaces the secrets in force, atomically: messages being
// verified keep the set they started with. It refuses an empty set and any
// invalid secret, leaving the secrets unchanged.
func (v *Verifier) SetSecrets(secrets ...Secret) error {
	if len(secrets) == 0 {
		return errors.New("eventsub: no webhook secret: give the transport.secret of your subscriptions (VerifierConfig.Secrets)")
	}
	keys := make([]*key, 0, len(secrets))
	for i, s := range secrets {
		if err := s.Check(); err != nil {
			return fmt.Errorf("eventsub: secret %d of %d: %w", i+1, len(secrets), err)
		}
		keys = append(keys, newKey(s))
	}
	v.mu.Lock()
	v.keys.Store(&keys)
	v.mu.Unlock()
	return nil
}

// MaxAge returns how old a message may be.
func (v *Verifier) MaxAge() time.Duration { return v.maxAge }

// Seen returns the Verifier's SeenStore.
func (v *Verifier) Seen() SeenStore { return v.seen }

// Verify authenticates one webhook message from its headers and raw body,
// then records its ID. The checks, in order:
//
//   - Message-Id, Message-Timestamp and Message-Type are present, and the
//     timestamp is RFC 3339 (ErrMalformed);
//   - the signature is "sha256=" and the lowercase hex HMAC-SHA256 of
//     Message-Id + Message-Timestamp + body under one of the secrets
//     (ErrSignature; a missing header too);
//   - the timestamp is at most MaxAge old (ErrStale) and at most
//     MaxFutureSkew ahead (ErrFuture);
//   - the body is a JSON object with a subscription, plus an event for a
//     notification and a challenge for a verification (ErrMalformed);
//   - for notifications and revocations, the ID was not seen before
//     (ErrDuplicate: the returned Message is then set too, for the caller
//     to acknowledge). Verification messages are not recorded: answering a
//     challenge twice is harmless.
//
// A caller that fails to process an accepted message should call Forget so
// that Twitch's resend is accepted. Errors never contain the body or a
// secret.
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte) (*Message, error) {
	msg, err := v.authenticate(h, body, v.now())
	if err != nil {
		return nil, err
	}
	if msg.Type == MessageVerification {
		return msg, nil
	}
	dup, err := v.seen.MarkSeen(ctx, msg.ID, msg.Timestamp.Add(v.maxAge))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSeenStore, err)
	}
	if dup {
		return msg, ErrDuplicate
	}
	return msg, nil
}

// Forget removes a message ID from the seen-set, so that Twitch's resend of
// a message whose processing failed is accepted again.
func (v *Verifier) Forget(ctx context.Context, id string) error {
	if err := v.seen.Forget(ctx, id); err != nil {
		return fmt.Errorf("%w: %w", ErrSeenStore, err)
	}
	return nil
}

// header returns the first value of a canonical header name, falling back
// to a case-insensitive lookup for maps not built by net/http.
func header(h http.Header, canonical string) string {
	if vs, ok := h[canonical]; ok {
		if len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	if len(h) == 0 {
		return ""
	}
	for k, vs := range h {
		if len(vs) > 0 && textproto.CanonicalMIMEHeaderKey(k) == canonical {
			return vs[0]
		}
	}
	return ""
}

// authenticate runs every check but the seen-set.
func (v *Verifier) authenticate(h http.Header, body []byte, now time.Time) (*Message, error) {
	id := header(h, HeaderMessageID)
	ts := header(h, HeaderMessageTimestamp)
	typ := header(h, HeaderMessageType)
	sig := header(h, HeaderMessageSignature)
	switch {
	case id == "":
		return nil, fmt.Errorf("%w: no %s header", ErrMalformed, HeaderMessageID)
	case len(id) > maxIDLen:
		return nil, fmt.Errorf("%w: %s is %d bytes long, the limit is %d", ErrMalformed, HeaderMessageID, len(id), maxIDLen)
	case ts == "":
		return nil, fmt.Errorf("%w: no %s header", ErrMalformed, HeaderMessageTimestamp)
	case typ == "":
		return nil, fmt.Errorf("%w: no %s header", ErrMalformed, HeaderMessageType)
	case sig == "":
		return nil, fmt.Errorf("%w: no %s header", ErrSignature, HeaderMessageSignature)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || len(ts) > 64 {
		return nil, fmt.Errorf("%w: %s is not an RFC 3339 time", ErrMalformed, HeaderMessageTimestamp)
	}
	if len(sig) != len(sigPrefix)+64 || sig[:len(sigPrefix)] != sigPrefix {
		return nil, fmt.Errorf("%w: %s is not sha256= and 64 hex digits", ErrSignature, HeaderMessageSignature)
	}
	if !v.macMatches(id, ts, body, sig[len(sigPrefix):]) {
		return nil, ErrSignature
	}
	if age := now.Sub(t); age > v.maxAge {
		return nil, fmt.Errorf("%w: sent %s ago, at %s; the limit is %s", ErrStale, age.Round(time.Second), t.UTC().Format(time.RFC3339), v.maxAge)
	} else if -age > v.skew {
		return nil, fmt.Errorf("%w: %s ahead of this clock (at %s); the limit is %s: check the clock", ErrFuture, (-age).Round(time.Second), t.UTC().Format(time.RFC3339), v.skew)
	}
	msg := &Message{ID: id, Type: MessageType(typ), Timestamp: t, Retry: header(h, HeaderMessageRetry), Body: body}
	var w wireMessage
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: the body is not a JSON message: %s", ErrMalformed, jsonReason(err))
	}
	if w.Subscription == nil {
		return nil, fmt.Errorf("%w: the body has no subscription", ErrMalformed)
	}
	msg.Subscription = *w.Subscription
	switch msg.Type {
	case MessageNotification:
		if len(w.Event) == 0 || w.Event[0] != '{' {
			return nil, fmt.Errorf("%w: the notification has no event object", ErrMalformed)
		}
		msg.Event = w.Event
	case MessageVerification:
		if w.Challenge == nil || *w.Challenge == "" {
			return nil, fmt.Errorf("%w: the verification has no challenge", ErrMalformed)
		}
		msg.Challenge = *w.Challenge
	}
	return msg, nil
}

// jsonReason describes a JSON error without quoting the input.
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s has the wrong type (%s)", te.Field, te.Value)
	default:
		return "invalid JSON"
	}
}

// macMatches tries every secret in force.
func (v *Verifier) macMatches(id, ts string, body []byte, hexSig string) bool {
	var sig [64]byte
	copy(sig[:], hexSig)
	for _, k := range *v.keys.Load() {
		if k.matches(id, ts, body, sig[:]) {
			return true
		}
	}
	return false
}
