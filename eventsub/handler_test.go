package eventsub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder collects what the callbacks received.
type recorder struct {
	mu       sync.Mutex
	grants   []AuthorizationGrantEvent
	revokes  []AuthorizationRevokeEvent
	raw      []*Message
	revoked  []*Message
	verified []*Message
	fail     error
}

func (rec *recorder) config(v *Verifier) HandlerConfig {
	return HandlerConfig{
		Verifier: v,
		Logger:   slog.New(slog.DiscardHandler),
		OnAuthorizationGrant: func(_ context.Context, _ *Message, ev AuthorizationGrantEvent) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.grants = append(rec.grants, ev)
			return rec.fail
		},
		OnAuthorizationRevoke: func(_ context.Context, _ *Message, ev AuthorizationRevokeEvent) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.revokes = append(rec.revokes, ev)
			return rec.fail
		},
		OnNotification: func(_ context.Context, m *Message) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.raw = append(rec.raw, m)
			return rec.fail
		},
		OnRevocation: func(_ context.Context, m *Message) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.revoked = append(rec.revoked, m)
			return rec.fail
		},
		OnVerification: func(_ context.Context, m *Message) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.verified = append(rec.verified, m)
			return nil
		},
	}
}

func newTestHandler(t *testing.T) (*Handler, *recorder) {
	t.Helper()
	rec := &recorder{}
	h, err := NewHandler(rec.config(newTestVerifier(t, VerifierConfig{})))
	if err != nil {
		t.Fatal(err)
	}
	return h, rec
}

func serve(h http.Handler, r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// jsonError decodes a refusal and checks its shape.
func jsonError(t *testing.T, resp *http.Response, status int) string {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON", ct)
	}
	var e struct {
		Error   string `json:"error"`
		Status  int    `json:"status"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Status != status || e.Error != http.StatusText(status) || e.Message == "" {
		t.Fatalf("error body %s (%v)", body, err)
	}
	return e.Message
}

func TestHandlerChallenge(t *testing.T) {
	h, rec := newTestHandler(t)
	resp := serve(h, spec(MessageVerification, challengeBody).request())
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "pogchamp-kappa-360noscope-vohiyo" {
		t.Fatalf("challenge answer: %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	if cl := resp.Header.Get("Content-Length"); cl != "32" {
		t.Errorf("Content-Length = %q, want 32", cl)
	}
	if len(rec.verified) != 1 || rec.verified[0].Subscription.Status != StatusWebhookCallbackVerificationPending {
		t.Errorf("OnVerification got %v", rec.verified)
	}
	// A challenge signed with another secret is refused.
	m := spec(MessageVerification, challengeBody)
	m.secret = otherSecret
	jsonError(t, serve(h, m.request()), http.StatusForbidden)
	// OnVerification can refuse.
	v := newTestVerifier(t, VerifierConfig{})
	h2, _ := NewHandler(HandlerConfig{Verifier: v, Logger: slog.New(slog.DiscardHandler), OnVerification: func(context.Context, *Message) error {
		return errors.New("not one of ours")
	}})
	jsonError(t, serve(h2, spec(MessageVerification, challengeBody).request()), http.StatusForbidden)
	if s := h2.Stats(); s.Refused != 1 || s.Verifications != 0 {
		t.Errorf("stats after a refused challenge: %+v", s)
	}
}

func TestHandlerTypedCallbacks(t *testing.T) {
	h, rec := newTestHandler(t)
	for _, b := range []string{revokeBody, grantBody, followBody} {
		resp := serve(h, spec(MessageNotification, b).request())
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("notification answered %d", resp.StatusCode)
		}
	}
	if len(rec.revokes) != 1 || rec.revokes[0] != (AuthorizationRevokeEvent{ClientID: "crq72vsaoijkc83xx42hz6i37", UserID: "1337"}) {
		t.Errorf("revokes = %+v", rec.revokes)
	}
	if len(rec.grants) != 1 || rec.grants[0] != (AuthorizationGrantEvent{ClientID: "crq72vsaoijkc83xx42hz6i37", UserID: "1337", UserLogin: "cool_user", UserName: "Cool_User"}) {
		t.Errorf("grants = %+v", rec.grants)
	}
	if len(rec.raw) != 1 || rec.raw[0].Subscription.Type != "channel.follow" || !bytes.Contains(rec.raw[0].Event, []byte(`"followed_at"`)) {
		t.Errorf("raw notifications = %v", rec.raw)
	}
	resp := serve(h, spec(MessageRevocation, revocationBody).request())
	if resp.StatusCode != http.StatusNoContent || len(rec.revoked) != 1 || rec.revoked[0].Subscription.Status != StatusAuthorizationRevoked {
		t.Errorf("revocation: %d, %v", resp.StatusCode, rec.revoked)
	}
	if s := h.Stats(); s.Notifications != 3 || s.Revocations != 1 || s.Refused != 0 {
		t.Errorf("stats = %+v", s)
	}
	// Without typed callbacks, grant and revoke go to OnNotification.
	var got []string
	h2, _ := NewHandler(HandlerConfig{Verifier: newTestVerifier(t, VerifierConfig{}), OnNotification: func(_ context.Context, m *Message) error {
		got = append(got, m.Subscription.Type)
		return nil
	}})
	serve(h2, spec(MessageNotification, revokeBody).request())
	serve(h2, spec(MessageNotification, grantBody).request())
	if strings.Join(got, ",") != "user.authorization.revoke,user.authorization.grant" {
		t.Errorf("OnNotification got %v", got)
	}
	// A typed event lacking user_id is malformed (400).
	bad := strings.Replace(revokeBody, `"user_id":"1337",`, "", 1)
	jsonError(t, serve(h, spec(MessageNotification, bad).request()), http.StatusBadRequest)
}

func TestHandlerRefusals(t *testing.T) {
	h, rec := newTestHandler(t)
	wrong := spec(MessageNotification, revokeBody)
	wrong.secret = otherSecret
	stale := spec(MessageNotification, revokeBody)
	stale.ts = testNow.Add(-11 * time.Minute).Format(time.RFC3339)
	unsigned := spec(MessageNotification, revokeBody)
	unsigned.secret = ""
	cases := []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"wrong secret", wrong.request(), http.StatusForbidden},
		{"no signature", unsigned.request(), http.StatusForbidden},
		{"stale", stale.request(), http.StatusBadRequest},
		{"not JSON", spec(MessageNotification, "hello").request(), http.StatusBadRequest},
		{"GET", httptest.NewRequest(http.MethodGet, "/eventsub", nil), http.StatusMethodNotAllowed},
		{"no headers", httptest.NewRequest(http.MethodPost, "/eventsub", strings.NewReader(revokeBody)), http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			jsonError(t, serve(h, c.req), c.status)
		})
	}
	if len(rec.revokes)+len(rec.raw) != 0 {
		t.Fatalf("a refused message reached a callback: %v %v", rec.revokes, rec.raw)
	}
	if s := h.Stats(); s.Refused != int64(len(cases)) {
		t.Errorf("Refused = %d, want %d", s.Refused, len(cases))
	}
}

func TestHandlerBodyLimit(t *testing.T) {
	rec := &recorder{}
	cfg := rec.config(newTestVerifier(t, VerifierConfig{}))
	cfg.MaxBodyBytes = int64(len(revokeBody))
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if resp := serve(h, spec(MessageNotification, revokeBody).request()); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("body at the limit: %d", resp.StatusCode)
	}
	big := spec(MessageNotification, revokeBody+" ")
	jsonError(t, serve(h, big.request()), http.StatusRequestEntityTooLarge)
	// Without Content-Length (chunked), the limit holds too.
	r := big.request()
	r.ContentLength = -1
	r.Body = io.NopCloser(strings.NewReader(big.body))
	jsonError(t, serve(h, r), http.StatusRequestEntityTooLarge)
}

func TestHandlerDuplicateNotReprocessed(t *testing.T) {
	h, rec := newTestHandler(t)
	m := spec(MessageNotification, revokeBody)
	for i := 0; i < 3; i++ {
		if resp := serve(h, m.request()); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("delivery %d answered %d", i+1, resp.StatusCode)
		}
	}
	if len(rec.revokes) != 1 {
		t.Fatalf("the callback ran %d times for one message, want 1", len(rec.revokes))
	}
	if s := h.Stats(); s.Duplicates != 2 {
		t.Errorf("Duplicates = %d, want 2", s.Duplicates)
	}
}

// TestHandlerFailureRedelivered: a callback error answers 500 and the
// resend (same ID) is processed again; once it succeeds, later resends are
// duplicates.
func TestHandlerFailureRedelivered(t *testing.T) {
	h, rec := newTestHandler(t)
	rec.fail = errors.New("database down")
	m := spec(MessageNotification, revokeBody)
	resp := serve(h, m.request())
	msg := jsonError(t, resp, http.StatusInternalServerError)
	if strings.Contains(msg, "database") {
		t.Errorf("the 500 body reveals the callback's error: %q", msg)
	}
	rec.fail = nil
	if resp := serve(h, m.request()); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("resend answered %d", resp.StatusCode)
	}
	serve(h, m.request())
	if len(rec.revokes) != 2 {
		t.Fatalf("callback ran %d times, want 2 (failed, then the resend)", len(rec.revokes))
	}
	if s := h.Stats(); s.Failed != 1 || s.Duplicates != 1 {
		t.Errorf("stats = %+v", s)
	}
	// A panicking callback forgets the ID too.
	v := newTestVerifier(t, VerifierConfig{})
	calls := 0
	hp, _ := NewHandler(HandlerConfig{Verifier: v, OnNotification: func(context.Context, *Message) error {
		calls++
		if calls == 1 {
			panic("boom")
		}
		return nil
	}})
	f := spec(MessageNotification, followBody)
	func() {
		defer func() { recover() }()
		serve(hp, f.request())
	}()
	if resp := serve(hp, f.request()); resp.StatusCode != http.StatusNoContent || calls != 2 {
		t.Fatalf("resend after a panic: %d, calls %d", resp.StatusCode, calls)
	}
}

// failingSeen is a SeenStore whose MarkSeen fails.
type failingSeen struct{}

func (failingSeen) MarkSeen(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("connection refused")
}
func (failingSeen) Forget(context.Context, string) error { return nil }

func TestHandlerSeenStoreFailure(t *testing.T) {
	rec := &recorder{}
	h, _ := NewHandler(rec.config(newTestVerifier(t, VerifierConfig{Seen: failingSeen{}})))
	jsonError(t, serve(h, spec(MessageNotification, revokeBody).request()), http.StatusServiceUnavailable)
	if len(rec.revokes) != 0 {
		t.Fatal("a message was processed without a duplicate check")
	}
}

func TestHandlerUnknownMessageType(t *testing.T) {
	h, rec := newTestHandler(t)
	m := spec("future_type", revokeBody)
	if resp := serve(h, m.request()); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("unknown type answered %d, want 204", resp.StatusCode)
	}
	if len(rec.revokes)+len(rec.raw) != 0 {
		t.Fatal("an unknown message type reached a notification callback")
	}
}

func TestNewHandlerConfig(t *testing.T) {
	if _, err := NewHandler(HandlerConfig{}); err == nil {
		t.Error("NewHandler without a Verifier succeeded")
	}
	if _, err := NewHandler(HandlerConfig{Verifier: newTestVerifier(t, VerifierConfig{}), MaxBodyBytes: -1}); err == nil {
		t.Error("NewHandler with a negative MaxBodyBytes succeeded")
	}
}
