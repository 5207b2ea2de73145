package provider_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
)

// TestProviderMarkRevoked: an EventSub revoke stops the grant at once (no
// /validate, no refresh), is stored (a second Provider on the store agrees),
// fires OnRevoked once (a duplicate changes nothing), and only a new
// authorization makes the user active again.
func TestProviderMarkRevoked(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	st := store.NewMemory()
	var hooks atomic.Int32
	var hookUser atomic.Value
	p := newProvider(t, cfg, withStore(st), withHooks(provider.Hooks{
		OnRevoked: func(sub provider.Subject) { hooks.Add(1); hookUser.Store(sub.UserID()) },
	}))
	a := provUser(t, s, p, cfg.ClientID, "twitchdev", []string{"chat:read"})
	other := provUser(t, s, p, cfg.ClientID, s.Users()[1].Login, []string{"chat:read"})
	if _, err := p.Token(ctx(t), provider.User(a.UserID)); err != nil {
		t.Fatal(err)
	}
	s.ResetCounters()

	changed, err := p.MarkRevoked(ctx(t), a.UserID)
	if err != nil || !changed {
		t.Fatalf("MarkRevoked = %v, %v; want true, nil", changed, err)
	}
	if _, err := p.Token(ctx(t), provider.User(a.UserID)); !errors.Is(err, provider.ErrGrantRevoked) {
		t.Fatalf("UserToken after MarkRevoked: %v, want ErrGrantRevoked", err)
	}
	if _, err := p.TokenSource(provider.User(a.UserID)).Token(); !errors.Is(err, provider.ErrGrantRevoked) {
		t.Fatalf("TokenSource after MarkRevoked: %v, want ErrGrantRevoked", err)
	}
	if n := s.Requests("validate") + s.Requests("token"); n != 0 {
		t.Fatalf("MarkRevoked made %d requests to Twitch; want none", n)
	}
	if acct, _ := p.User(a.UserID); acct.Status != store.StatusRevoked {
		t.Fatalf("account status %q, want revoked", acct.Status)
	}
	if hooks.Load() != 1 || hookUser.Load() != a.UserID {
		t.Fatalf("OnRevoked fired %d times (user %v); want once for %s", hooks.Load(), hookUser.Load(), a.UserID)
	}
	if _, err := p.Token(ctx(t), provider.User(other.UserID)); err != nil {
		t.Fatalf("another user's grant: %v", err)
	}
	// Stored: a second Provider (a replica, a restart) agrees.
	p2 := newProvider(t, cfg, withStore(st))
	if _, err := p2.Token(ctx(t), provider.User(a.UserID)); !errors.Is(err, provider.ErrGrantRevoked) {
		t.Fatalf("a second Provider on the store: %v, want ErrGrantRevoked", err)
	}
	// A duplicate changes nothing and fires nothing.
	if changed, err := p.MarkRevoked(ctx(t), a.UserID); err != nil || changed {
		t.Fatalf("second MarkRevoked = %v, %v; want false, nil", changed, err)
	}
	if hooks.Load() != 1 {
		t.Fatalf("OnRevoked fired %d times; want once", hooks.Load())
	}
	if _, err := p.MarkRevoked(ctx(t), "999999"); !errors.Is(err, provider.ErrUnknownSubject) {
		t.Fatalf("unknown user: %v, want ErrUnknownSubject", err)
	}
	// Only a new authorization resurrects the grant.
	again := provUser(t, s, p, cfg.ClientID, "twitchdev", []string{"chat:read"})
	if tok, err := p.Token(ctx(t), provider.User(a.UserID)); err != nil || tok.AccessToken != again.AccessToken {
		t.Fatalf("after connecting again: %v", err)
	}
}
