package provider_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
)

// slowRefresh is an http.RoundTripper that forwards every request and, for
// refresh requests, holds the (already processed) answer until the
// request's context is done: an upstream refresh whose answer arrives just
// as the renewal's deadline passes. It records each refresh's deadline.
type slowRefresh struct {
	hold      bool // hold refresh answers until the request's context is done
	mu        sync.Mutex
	deadlines []time.Time
}

func (s *slowRefresh) RoundTrip(r *http.Request) (*http.Response, error) {
	refresh := false
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		refresh = bytes.Contains(body, []byte("grant_type=refresh_token"))
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if refresh {
		dl, _ := r.Context().Deadline()
		s.mu.Lock()
		s.deadlines = append(s.deadlines, dl)
		s.mu.Unlock()
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !refresh || !s.hold {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	select {
	case <-r.Context().Done():
	case <-time.After(30 * time.Second): // bounded: a renewal without a deadline fails the test below
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// TestProviderStoresRefreshThatUsedItsDeadline: a refresh whose answer
// arrives as the renew timeout passes has already rotated the refresh token
// (single-use for a public client): the Provider must still store the new
// one. It used to save with what the upstream request left of the deadline,
// i.e. nothing; the rotated token stayed in memory and the store kept the
// spent one, which the next replica would have used (revoking the grant).
func TestProviderStoresRefreshThatUsedItsDeadline(t *testing.T) {
	s := newSandbox(t)
	cfg := public(s)
	st := store.NewMemory()
	p := newProvider(t, cfg, withStore(st), withRenewTimeout(2*time.Second))
	u := provUser(t, s, p, cfg.ClientID, "twitchdev", nil)
	key := provider.User(u.UserID)

	slow := &slowRefresh{hold: true}
	c := *cfg
	c.HTTPClient = &http.Client{Transport: slow}
	p2 := newProvider(t, &c, withStore(st), withRenewTimeout(2*time.Second))
	tok, err := p2.Refresh(ctx(t), key)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	leaks.Secret(tok.AccessToken, tok.RefreshToken)
	if len(slow.deadlines) != 1 || slow.deadlines[0].IsZero() {
		t.Fatalf("refresh requests' deadlines = %v, want one deadline", slow.deadlines)
	}
	rec, err := st.Load(ctx(t), store.GrantKey(cfg.ClientID, key.String()))
	if err != nil {
		t.Fatal(err)
	}
	if rec.RefreshToken != tok.RefreshToken {
		t.Fatal("the rotated refresh token was handed out but not stored: the store holds the spent one")
	}
	// The stored refresh token is the live one.
	if _, err := cfg.Refresh(ctx(t), rec.RefreshToken); err != nil {
		t.Fatalf("the stored refresh token does not refresh: %v", err)
	}
}

// grantClock is a store.Leaser on a store.Memory that records when it
// granted each lease, for how long, and the deadline of every Save; it
// answers a moment after granting, as a database does one round trip later.
type grantClock struct {
	*store.Memory
	mu      sync.Mutex
	granted time.Time
	ttl     time.Duration
	saves   []time.Time
}

func (g *grantClock) Lease(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	g.mu.Lock()
	g.granted, g.ttl = time.Now(), ttl
	g.mu.Unlock()
	time.Sleep(20 * time.Millisecond) // the answer's way back: the scenario, not a synchronisation
	return func() {}, nil
}

func (g *grantClock) Save(ctx context.Context, rec store.Record, v int64) (store.Record, error) {
	dl, _ := ctx.Deadline()
	g.mu.Lock()
	g.saves = append(g.saves, dl)
	g.mu.Unlock()
	return g.Memory.Save(ctx, rec, v)
}

// TestProviderLeaseOutlivesRenewal: a replica holding the refresh lease
// must be done (upstream request and save) before the lease can lapse, or
// a second replica takes it and refreshes with the same single-use token.
// The store counts the lease from when it granted it, before its answer
// reached the Provider; the Provider's deadlines used to start when the
// answer arrived and end one renew timeout later — after the lease lapsed
// (under load the gap was seen at 750 ms, and both replicas refreshed).
func TestProviderLeaseOutlivesRenewal(t *testing.T) {
	s := newSandbox(t)
	cfg := public(s)
	g := &grantClock{Memory: store.NewMemory()}
	p := newProvider(t, cfg, withStore(g))
	u := provUser(t, s, p, cfg.ClientID, "twitchdev", nil)

	slow := &slowRefresh{}
	c := *cfg
	c.HTTPClient = &http.Client{Transport: slow}
	p2 := newProvider(t, &c, withStore(g), withRenewTimeout(2*time.Second))
	g.mu.Lock()
	g.saves = nil
	g.mu.Unlock()
	if _, err := p2.Refresh(ctx(t), provider.User(u.UserID)); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	lapse := g.granted.Add(g.ttl)
	if len(slow.deadlines) != 1 || len(g.saves) != 1 {
		t.Fatalf("%d refresh requests and %d saves, want 1 and 1", len(slow.deadlines), len(g.saves))
	}
	if dl := slow.deadlines[0]; dl.IsZero() || !dl.Before(lapse) {
		t.Errorf("the refresh request may run until %v after the lease was granted, but the lease lapses after %v",
			dl.Sub(g.granted), g.ttl)
	}
	if dl := g.saves[0]; dl.IsZero() || !dl.Before(lapse) {
		t.Errorf("the save may run until %v after the lease was granted, but the lease lapses after %v",
			dl.Sub(g.granted), g.ttl)
	}
}
