package extension

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHelix serves GET /helix/extensions/jwt/secrets, checking the backend
// JWT against the secrets it currently publishes.
type fakeHelix struct {
	t        *testing.T
	mu       sync.Mutex
	secrets  []Secret
	status   int
	calls    atomic.Int32
	lastAuth string
}

func (f *fakeHelix) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/helix/extensions/jwt/secrets" || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		fmt.Fprintf(w, `{"error":"x","status":%d,"message":"boom"}`, f.status)
		return
	}
	if r.URL.Query().Get("extension_id") != "extclientid" || r.Header.Get("Client-Id") != "extclientid" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"status":400,"message":"bad client"}`)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.lastAuth = tok
	v, _ := NewVerifier(NewKeyring(f.secrets...), VerifierConfig{Now: func() time.Time { return testNow }})
	c, err := v.Verify(r.Context(), tok)
	if !ok || err != nil || c.Role != RoleExternal || c.UserID != "owner1" {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"Unauthorized","status":401,"message":"invalid JWT"}`)
		return
	}
	var parts []string
	for _, s := range f.secrets {
		parts = append(parts, fmt.Sprintf(`{"content":%q,"active_at":%q,"expires_at":%q}`,
			base64.StdEncoding.EncodeToString(s.Secret), s.Active.UTC().Format(time.RFC3339Nano), s.Expires.UTC().Format(time.RFC3339Nano)))
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"data":[{"format_version":1,"secrets":[%s]}]}`, strings.Join(parts, ","))
}

func newFakeHelix(t *testing.T, secrets ...Secret) (*fakeHelix, *httptest.Server) {
	f := &fakeHelix{t: t, secrets: secrets}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func TestHelixSecretsRefresh(t *testing.T) {
	oldS := Secret{Secret: testKey, Active: testNow.Add(-time.Hour), Expires: testNow.Add(100 * 365 * 24 * time.Hour)}
	f, srv := newFakeHelix(t, oldS)
	now := testNow
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	h, err := NewHelixSecrets(HelixSecretsConfig{
		ExtensionID: "extclientid", OwnerUserID: "owner1", Initial: []Secret{{Secret: testKey}},
		HTTPClient: srv.Client(), BaseURL: srv.URL + "/helix/", MissInterval: time.Minute, Now: clock,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := h.Keyring().Secrets()
	if len(got) != 1 || !got[0].Expires.Equal(oldS.Expires) || !got[0].Active.Equal(oldS.Active) {
		t.Fatalf("keyring after refresh: %+v", got)
	}

	// Twitch rotates: the fake now publishes old (expiring in an hour) and new.
	newS := Secret{Secret: otherKey, Active: testNow, Expires: testNow.Add(100 * 365 * 24 * time.Hour)}
	f.mu.Lock()
	f.secrets = []Secret{{Secret: testKey, Active: oldS.Active, Expires: testNow.Add(time.Hour)}, newS}
	f.mu.Unlock()

	// A verifier on the source refreshes when a token matches no known secret.
	v, err := NewVerifier(h, VerifierConfig{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	newTok := rawToken(otherKey, hs256, fmt.Sprintf(`{"exp":%d,"role":"viewer"}`, testNow.Add(time.Hour).Unix()))
	calls := f.calls.Load()
	// The last refresh was just now: within MissInterval, no fetch, refused.
	if _, err := v.Verify(context.Background(), newTok); !errors.Is(err, ErrSignature) {
		t.Fatalf("within MissInterval: %v", err)
	}
	if f.calls.Load() != calls {
		t.Fatal("refreshed within MissInterval")
	}
	clockMu.Lock()
	now = now.Add(2 * time.Minute)
	clockMu.Unlock()
	if _, err := v.Verify(context.Background(), newTok); err != nil {
		t.Fatalf("after refresh on miss: %v", err)
	}
	if f.calls.Load() != calls+1 {
		t.Fatalf("calls %d, want %d", f.calls.Load(), calls+1)
	}
	// Many bad tokens at once cause at most one more fetch per MissInterval.
	clockMu.Lock()
	now = now.Add(2 * time.Minute)
	clockMu.Unlock()
	bad := rawToken([]byte("attacker"), hs256, fmt.Sprintf(`{"exp":%d,"role":"viewer"}`, testNow.Add(time.Hour).Unix()))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), bad); !errors.Is(err, ErrSignature) {
				t.Errorf("bad token: %v", err)
			}
		})
	}
	wg.Wait()
	if f.calls.Load() != calls+2 {
		t.Fatalf("calls %d, want %d", f.calls.Load(), calls+2)
	}
	// The backend JWT is now signed with the new secret (expires last).
	if err := h.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	only, _ := NewVerifier(NewKeyring(Secret{Secret: otherKey}), VerifierConfig{Now: clock})
	f.mu.Lock()
	last := f.lastAuth
	f.mu.Unlock()
	if _, err := only.Verify(context.Background(), last); err != nil {
		t.Fatalf("backend JWT not signed with the latest-expiring secret: %v", err)
	}
}

func TestHelixSecretsErrorsKeepKeyring(t *testing.T) {
	f, srv := newFakeHelix(t, Secret{Secret: testKey})
	h, err := NewHelixSecrets(HelixSecretsConfig{
		ExtensionID: "extclientid", OwnerUserID: "owner1", Initial: []Secret{{Secret: testKey}},
		HTTPClient: srv.Client(), BaseURL: srv.URL + "/helix", Now: func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	before := h.Keyring().load()
	f.mu.Lock()
	f.status = http.StatusInternalServerError
	f.mu.Unlock()
	err = h.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("%v", err)
	}
	if strings.Contains(err.Error(), testKeyB64) || strings.Contains(err.Error(), "eyJ") {
		t.Fatalf("error leaks a secret or the JWT: %v", err)
	}
	if h.Keyring().load() != before {
		t.Fatal("keyring changed after a failed refresh")
	}
	// The wrong owner: Twitch answers 401, keyring unchanged.
	h2, _ := NewHelixSecrets(HelixSecretsConfig{
		ExtensionID: "extclientid", OwnerUserID: "someone", Initial: []Secret{{Secret: testKey}},
		HTTPClient: srv.Client(), BaseURL: srv.URL + "/helix", Now: func() time.Time { return testNow },
	})
	f.mu.Lock()
	f.status = 0
	f.mu.Unlock()
	if err := h2.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("%v", err)
	}
	// Config errors.
	for _, cfg := range []HelixSecretsConfig{
		{OwnerUserID: "o", Initial: []Secret{{Secret: testKey}}},
		{ExtensionID: "e", Initial: []Secret{{Secret: testKey}}},
		{ExtensionID: "e", OwnerUserID: "o"},
	} {
		if _, err := NewHelixSecrets(cfg); err == nil {
			t.Fatalf("%+v accepted", cfg)
		}
	}
}

func TestHelixSecretsRun(t *testing.T) {
	f, srv := newFakeHelix(t, Secret{Secret: testKey})
	h, _ := NewHelixSecrets(HelixSecretsConfig{
		ExtensionID: "extclientid", OwnerUserID: "owner1", Initial: []Secret{{Secret: testKey}},
		HTTPClient: srv.Client(), BaseURL: srv.URL + "/helix", Interval: 5 * time.Millisecond,
		Now: func() time.Time { return testNow }, Logger: slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	deadline := time.After(5 * time.Second)
	for f.calls.Load() < 3 {
		select {
		case <-deadline:
			t.Fatal("Run did not refresh periodically")
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("%v", err)
	}
}
