package eventsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
)

// DefaultMaxBodyBytes bounds a message body. Twitch's notifications are a
// few kilobytes.
const DefaultMaxBodyBytes = 1 << 20

// HandlerConfig configures a Handler. Verifier is required; every callback
// is optional.
//
// Callbacks run while Twitch waits for the answer, which it wants "within a
// few seconds": keep them short. A callback's error makes the Handler answer
// 500 and forget the message ID, so that Twitch's resend is processed again
// (nothing is lost, and nothing is processed twice once it succeeded).
type HandlerConfig struct {
	// Verifier authenticates the messages. Required.
	Verifier *Verifier

	// OnVerification is called for each webhook_callback_verification
	// message before its challenge is answered. Returning an error refuses
	// the challenge (403), so Twitch marks the subscription
	// webhook_callback_verification_failed. Nil accepts every challenge
	// signed with a secret in force.
	OnVerification func(ctx context.Context, msg *Message) error
	// OnAuthorizationGrant receives user.authorization.grant (version 1)
	// notifications.
	OnAuthorizationGrant func(ctx context.Context, msg *Message, ev AuthorizationGrantEvent) error
	// OnAuthorizationRevoke receives user.authorization.revoke (version 1)
	// notifications: stop using the user's tokens for ev.ClientID.
	OnAuthorizationRevoke func(ctx context.Context, msg *Message, ev AuthorizationRevokeEvent) error
	// OnNotification receives every other notification, with the raw
	// event in msg.Event (and grant or revoke notifications whose typed
	// callback is nil).
	OnNotification func(ctx context.Context, msg *Message) error
	// OnRevocation receives revocation messages: Twitch ended the
	// subscription msg.Subscription; its Status says why.
	OnRevocation func(ctx context.Context, msg *Message) error

	// MaxBodyBytes refuses larger bodies with 413; default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives refusals (warn) and callback errors (error); default
	// slog.Default().
	Logger *slog.Logger
}

// HandlerStats are a Handler's counters since it was built.
type HandlerStats struct {
	// Notifications, Revocations and Verifications count the messages
	// accepted and handed to a callback (or acknowledged without one).
	Notifications, Revocations, Verifications int64
	// Duplicates counts messages acknowledged without processing because
	// their ID was seen before.
	Duplicates int64
	// Refused counts requests answered 4xx: bad signature, stale,
	// malformed, too large, wrong method, refused challenge.
	Refused int64
	// Failed counts messages answered 5xx: a callback or the SeenStore
	// failed.
	Failed int64
}

// Handler is the http.Handler of an EventSub webhook callback URL. For each
// request it:
//
//   - answers a method other than POST with 405, and a body over
//     MaxBodyBytes with 413;
//   - verifies the message (see Verifier.Verify): 403 for a missing or bad
//     signature, 400 for a stale, future-dated or malformed message, 503
//     when the SeenStore fails;
//   - answers a webhook_callback_verification with 200, the raw challenge
//     as text/plain and its Content-Length (after OnVerification);
//   - acknowledges a duplicate notification or revocation with 204 without
//     calling anything;
//   - hands a notification to OnAuthorizationGrant, OnAuthorizationRevoke
//     or OnNotification and a revocation to OnRevocation, then answers 204;
//     a callback error answers 500 and forgets the ID;
//   - acknowledges with 204 a message of a type it does not know (Twitch
//     counts refusals as delivery failures and would end the
//     subscription).
//
// Every refusal has a JSON body {"error","status","message"}. A Handler is
// safe for concurrent use.
type Handler struct {
	cfg HandlerConfig
	v   *Verifier
	max int64
	log *slog.Logger

	notifications, revocations, verifications, duplicates, refused, failed atomic.Int64
}

// NewHandler returns the Handler described by cfg.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("eventsub: HandlerConfig.Verifier is required (build one with NewVerifier)")
	}
	h := &Handler{cfg: cfg, v: cfg.Verifier, max: cfg.MaxBodyBytes, log: cfg.Logger}
	switch {
	case h.max == 0:
		h.max = DefaultMaxBodyBytes
	case h.max < 0:
		return nil, errors.New("eventsub: negative HandlerConfig.MaxBodyBytes")
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// Stats returns the Handler's counters.
func (h *Handler) Stats() HandlerStats {
	return HandlerStats{
		Notifications: h.notifications.Load(), Revocations: h.revocations.Load(), Verifications: h.verifications.Load(),
		Duplicates: h.duplicates.Load(), Refused: h.refused.Load(), Failed: h.failed.Load(),
	}
}

// ServeHTTP handles one webhook request as described on Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, "an EventSub callback takes POST", nil)
		return
	}
	body, err := h.readBody(w, r)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		h.refuse(w, r, status, err.Error(), err)
		return
	}
	ctx := r.Context()
	msg, err := h.v.Verify(ctx, r.Header, body)
	switch {
	case errors.Is(err, ErrDuplicate):
		h.duplicates.Add(1)
		h.log.DebugContext(ctx, "eventsub: duplicate message acknowledged", "message_id", msg.ID, "type", msg.Subscription.Type)
		w.WriteHeader(http.StatusNoContent)
		return
	case errors.Is(err, ErrSeenStore):
		h.fail(w, r, http.StatusServiceUnavailable, "the message could not be checked for duplicates; send it again", err)
		return
	case errors.Is(err, ErrSignature):
		h.refuse(w, r, http.StatusForbidden, err.Error(), err)
		return
	case err != nil:
		h.refuse(w, r, http.StatusBadRequest, err.Error(), err)
		return
	}

	if msg.Type == MessageVerification {
		h.verify(w, r, msg)
		return
	}
	// From here on the ID is recorded: any answer but 2xx forgets it so
	// that the resend is processed.
	done := false
	defer func() {
		if !done {
			// A callback panicked; net/http recovers it and drops the
			// connection, and Twitch sends the message again.
			h.forget(ctx, msg)
		}
	}()
	status, cbErr := h.dispatch(ctx, msg)
	done = true
	if cbErr != nil {
		h.forget(ctx, msg)
		if status == http.StatusBadRequest {
			h.refuse(w, r, status, cbErr.Error(), cbErr)
			return
		}
		h.fail(w, r, status, "processing the message failed; send it again", cbErr)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads at most h.max bytes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.max {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, r.ContentLength, h.max)
	}
	rd := http.MaxBytesReader(w, r.Body, h.max)
	var body []byte
	var err error
	if n := r.ContentLength; n > 0 {
		// net/http enforces Content-Length: the body has exactly n bytes.
		body = make([]byte, n)
		_, err = io.ReadFull(rd, body)
	} else {
		body, err = io.ReadAll(rd)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: the limit is %d bytes", ErrTooLarge, h.max)
		}
		return nil, fmt.Errorf("%w: reading the body: %v", ErrMalformed, err)
	}
	return body, nil
}

// verify answers a verification message.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request, msg *Message) {
	if f := h.cfg.OnVerification; f != nil {
		if err := f(r.Context(), msg); err != nil {
			h.refuse(w, r, http.StatusForbidden, "challenge refused", err)
			return
		}
	}
	h.verifications.Add(1)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(len(msg.Challenge)))
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, msg.Challenge)
}

// dispatch calls the callback for msg. A typed event that does not decode is
// a 400; a callback error a 500.
func (h *Handler) dispatch(ctx context.Context, msg *Message) (int, error) {
	switch msg.Type {
	case MessageNotification:
		h.notifications.Add(1)
		sub := msg.Subscription
		switch {
		case sub.Type == TypeUserAuthorizationRevoke && sub.Version == "1" && h.cfg.OnAuthorizationRevoke != nil:
			var ev AuthorizationRevokeEvent
			if err := decodeEvent(msg.Event, &ev); err != nil {
				return http.StatusBadRequest, err
			}
			return callback(h.cfg.OnAuthorizationRevoke(ctx, msg, ev))
		case sub.Type == TypeUserAuthorizationGrant && sub.Version == "1" && h.cfg.OnAuthorizationGrant != nil:
			var ev AuthorizationGrantEvent
			if err := decodeEvent(msg.Event, &ev); err != nil {
				return http.StatusBadRequest, err
			}
			return callback(h.cfg.OnAuthorizationGrant(ctx, msg, ev))
		case h.cfg.OnNotification != nil:
			return callback(h.cfg.OnNotification(ctx, msg))
		}
		h.log.DebugContext(ctx, "eventsub: notification without a callback acknowledged", "type", sub.Type, "version", sub.Version)
	case MessageRevocation:
		h.revocations.Add(1)
		if h.cfg.OnRevocation != nil {
			return callback(h.cfg.OnRevocation(ctx, msg))
		}
	default:
		h.log.WarnContext(ctx, "eventsub: message of an unknown type acknowledged", "message_type", string(msg.Type), "message_id", msg.ID)
	}
	return 0, nil
}

func callback(err error) (int, error) {
	if err != nil {
		return http.StatusInternalServerError, err
	}
	return 0, nil
}

// decodeEvent decodes a typed event; client_id and user_id are required.
func decodeEvent(raw json.RawMessage, ev any) error {
	if err := json.Unmarshal(raw, ev); err != nil {
		return fmt.Errorf("%w: the event does not decode: %s", ErrMalformed, jsonReason(err))
	}
	var ids struct{ ClientID, UserID string }
	switch e := ev.(type) {
	case *AuthorizationGrantEvent:
		ids.ClientID, ids.UserID = e.ClientID, e.UserID
	case *AuthorizationRevokeEvent:
		ids.ClientID, ids.UserID = e.ClientID, e.UserID
	}
	if ids.ClientID == "" || ids.UserID == "" {
		return fmt.Errorf("%w: the event lacks client_id or user_id", ErrMalformed)
	}
	return nil
}

func (h *Handler) forget(ctx context.Context, msg *Message) {
	if err := h.v.Forget(context.WithoutCancel(ctx), msg.ID); err != nil {
		h.log.ErrorContext(ctx, "eventsub: forgetting a failed message", "message_id", msg.ID, "err", err)
	}
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	h.refused.Add(1)
	h.log.WarnContext(r.Context(), "eventsub: message refused", "status", status, "reason", errString(err, msg))
	writeError(w, status, msg)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	h.failed.Add(1)
	h.log.ErrorContext(r.Context(), "eventsub: message not processed", "status", status, "err", err)
	writeError(w, status, msg)
}

func errString(err error, fallback string) string {
	if err != nil {
		return err.Error()
	}
	return fallback
}

// writeError writes {"error","status","message"}, Twitch's error shape.
func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Status  int    `json:"status"`
		Message string `json:"message"`
	}{http.StatusText(status), status, msg})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
