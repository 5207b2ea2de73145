package provider_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// flakyStore is a store whose writes fail while failing is set, as a full
// disk or a database that went read-only would.
type flakyStore struct {
	store.Store
	failing atomic.Bool
	refused atomic.Int32
}

var errDiskFull = errors.New("disk full (test)")

func (f *flakyStore) Save(ctx context.Context, rec store.Record, expect int64) (store.Record, error) {
	if f.failing.Load() {
		f.refused.Add(1)
		return store.Record{}, errDiskFull
	}
	return f.Store.Save(ctx, rec, expect)
}

// waitFor polls cond every 20 ms for up to limit.
func waitFor(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// A renewal the store refuses to save: with single-use refresh tokens the
// old one is spent, so the new token is handed out anyway; Health lists the
// subject as unsaved; and as soon as the store accepts writes again the
// token is saved in the background — no renewal or validation needed.
func TestUnsavedRenewalIsHandedOutAndSavedInBackground(t *testing.T) {
	s := newSandbox(t)
	cfg := public(s) // single-use refresh tokens
	st := &flakyStore{Store: store.NewMemory()}
	p := newProvider(t, cfg, withStore(st))
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", nil)
	subject := provider.User(tok.UserID)
	key := store.GrantKey(cfg.ClientID, subject.String())

	st.failing.Store(true)
	renewed, err := p.Refresh(ctx(t), subject)
	if err != nil {
		t.Fatalf("renewal with a failing store: %v; want the new token handed out", err)
	}
	newest := s.IssuedRefreshTokens(cfg.ClientID, tok.UserID)[0]
	if renewed.RefreshToken != newest || renewed.AccessToken == tok.AccessToken {
		t.Fatal("the token handed out is not the one Twitch just issued")
	}
	if info, err := cfg.Validate(ctx(t), renewed.AccessToken); err != nil || info.UserID != tok.UserID {
		t.Fatalf("the unsaved token does not validate: %v", err)
	}
	if rec, _ := st.Load(ctx(t), key); rec.RefreshToken != tok.RefreshToken {
		t.Fatal("the store changed although every save failed")
	}
	if h := p.Health(ctx(t)); !slices.Equal(h.Unsaved, []provider.Subject{subject}) || !h.Degraded() {
		t.Fatalf("Health = %+v, want %s unsaved", h, subject)
	}
	// Reads serve the unsaved token meanwhile.
	if got, err := p.Token(ctx(t), provider.User(tok.UserID)); err != nil || got.AccessToken != renewed.AccessToken {
		t.Fatalf("UserToken while unsaved: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // a few background attempts fail
	if st.refused.Load() < 2 {
		t.Fatalf("%d save attempts while the store failed; want background retries", st.refused.Load())
	}

	st.failing.Store(false)
	if !waitFor(10*time.Second, func() bool { return len(p.Health(ctx(t)).Unsaved) == 0 }) {
		t.Fatalf("still unsaved 10 s after the store recovered: %+v", p.Health(ctx(t)))
	}
	rec, err := st.Load(ctx(t), key)
	if err != nil || rec.RefreshToken != newest {
		t.Fatalf("stored refresh token after recovery is not the newest issued (%v)", err)
	}
	// A new process reading the store gets a working grant.
	q := newProvider(t, cfg, withStore(st))
	if _, err := q.Refresh(ctx(t), subject); err != nil {
		t.Fatalf("the saved grant does not refresh in a new process: %v", err)
	}
}

// An unsaved renewal is saved first when the next renewal comes, inside the
// subject's single flight: the store ends with the newest token, never an
// older one written over it.
func TestUnsavedRenewalSavedBeforeTheNextRenewal(t *testing.T) {
	s := newSandbox(t)
	cfg := public(s)
	st := &flakyStore{Store: store.NewMemory()}
	p := newProvider(t, cfg, withStore(st))
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", nil)
	subject := provider.User(tok.UserID)
	st.failing.Store(true)
	for range 3 {
		if _, err := p.Refresh(ctx(t), subject); err != nil {
			t.Fatal(err)
		}
	}
	st.failing.Store(false)
	if _, err := p.Refresh(ctx(t), subject); err != nil {
		t.Fatal(err)
	}
	rec, _ := st.Load(ctx(t), store.GrantKey(cfg.ClientID, subject.String()))
	if rec.RefreshToken != s.IssuedRefreshTokens(cfg.ClientID, tok.UserID)[0] {
		t.Fatal("the store does not hold the newest refresh token")
	}
	if !waitFor(2*time.Second, func() bool { return len(p.Health(ctx(t)).Unsaved) == 0 }) {
		t.Fatalf("Health = %+v after a saved renewal", p.Health(ctx(t)))
	}
}

// Two applications logging the same user in to one store keep two grants:
// the store key holds the client ID.
func TestTwoAppsShareOneStore(t *testing.T) {
	for _, kind := range []string{"memory", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			s := newSandbox(t)
			a := confidential(s)
			other, err := s.AddClient(twitchtest.Client{Name: "second app"})
			if err != nil {
				t.Fatal(err)
			}
			b := &twitchauth.Config{ClientID: other.ID, ClientSecret: other.Secret, Endpoints: a.Endpoints, Logger: testLogger}
			var st store.Store = store.NewMemory()
			if kind == "sqlite" {
				sq, err := sqlite.Open(ctx(t), filepath.Join(t.TempDir(), "shared.db"), sqlite.Config{Key: store.KeyConfig{Key: make([]byte, 32)}, Logger: testLogger})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { sq.Close() })
				st = sq
			}
			pa := newProvider(t, a, withStore(st))
			pb := newProvider(t, b, withStore(st))
			ta := provUser(t, s, pa, a.ClientID, "twitchdev", nil)
			tb := provUser(t, s, pb, b.ClientID, "twitchdev", nil)
			if ta.UserID != tb.UserID {
				t.Fatal("not the same user")
			}
			subject := provider.User(ta.UserID)
			if _, err := pa.Refresh(ctx(t), subject); err != nil {
				t.Fatalf("app A's grant after app B added the same user: %v", err)
			}
			recs, err := st.List(ctx(t))
			if err != nil || len(recs) != 2 {
				t.Fatalf("the store holds %d records (%v), want one grant per application", len(recs), err)
			}
			for _, c := range []*twitchauth.Config{a, b} {
				rec, err := st.Load(ctx(t), store.GrantKey(c.ClientID, subject.String()))
				if err != nil || rec.ClientID != c.ClientID || rec.RefreshToken != s.IssuedRefreshTokens(c.ClientID, ta.UserID)[0] {
					t.Fatalf("%s's stored grant: %v, client %q; want its own newest token", c.ClientID, err, rec.ClientID)
				}
				// A fresh process of each application finds its own grant.
				q := newProvider(t, c, withStore(st))
				got, err := q.Token(ctx(t), provider.User(ta.UserID))
				if err != nil || got.ClientID != c.ClientID {
					t.Fatalf("%s reloads %v, %v", c.ClientID, got, err)
				}
				if info, err := c.Validate(ctx(t), got.AccessToken); err != nil || info.ClientID != c.ClientID {
					t.Fatalf("%s's token does not validate as its own: %v", c.ClientID, err)
				}
			}
		})
	}
}

// One corrupted row does not stop the Provider: the other grants load and
// work, the bad one is listed by Health (and its user's token refused with
// the store's error), nothing is deleted, and once an operator removes the
// record it is no longer listed.
func TestUnreadableRowIsIsolated(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	path := filepath.Join(t.TempDir(), "broker.db")
	key := make([]byte, 32)
	st, err := sqlite.Open(ctx(t), path, sqlite.Config{Key: store.KeyConfig{Key: key}, Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, cfg, withStore(st))
	var ids []string
	for _, u := range s.Users()[:3] {
		ids = append(ids, provUser(t, s, p, cfg.ClientID, u.Login, nil).UserID)
	}
	st.Close()
	bad := store.GrantKey(cfg.ClientID, provider.User(ids[1]).String())
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE tokens SET access_token = refresh_token WHERE key = ?`, bad); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	st, err = sqlite.Open(ctx(t), path, sqlite.Config{Key: store.KeyConfig{Key: key}, Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err = provider.New(ctx(t), providerConfig(cfg, withStore(st), withLogger(testLogger)))
	if err != nil {
		t.Fatalf("one corrupted row stopped the Provider: %v", err)
	}
	for _, id := range []string{ids[0], ids[2]} {
		if _, err := p.Refresh(ctx(t), provider.User(id)); err != nil {
			t.Fatalf("user %s beside the bad row: %v", id, err)
		}
	}
	if _, err := p.Token(ctx(t), provider.User(ids[1])); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("the bad row's user: %v, want the store's ErrCorrupt", err)
	}
	h := p.Health(ctx(t))
	if len(h.Unreadable) != 1 || h.Unreadable[0].Key != bad || !errors.Is(h.Unreadable[0].Err, store.ErrCorrupt) || !h.Degraded() {
		t.Fatalf("Health = %+v, want %s unreadable", h, bad)
	}
	if len(p.Users()) != 2 {
		t.Fatalf("%d users listed, want the 2 readable", len(p.Users()))
	}
	if _, err := st.Load(ctx(t), bad); errors.Is(err, store.ErrNotFound) {
		t.Fatal("the bad row was deleted")
	}
	// The operator removes it (twitchauth serve store remove KEY).
	if err := st.Delete(ctx(t), bad); err != nil {
		t.Fatal(err)
	}
	if h := p.Health(ctx(t)); h.Degraded() {
		t.Fatalf("Health after the removal: %+v", h)
	}
}

// A stored expiry centuries away (year 9999, which stores accept) does not
// overflow the Provider's freshness clock: the token is served from the
// cache's fast path (no lock, no allocation), not renewed on every read.
func TestFarExpiryStaysFresh(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	st := store.NewMemory()
	at, err := s.MintAppToken(cfg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Save(ctx(t), store.Record{Key: store.GrantKey(cfg.ClientID, provider.App().String()), ClientID: cfg.ClientID,
		AccessToken: at, TokenType: "bearer", Expiry: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}, 0); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, cfg, withStore(st))
	before := s.Requests("token")
	for range 3 {
		if got, err := p.Token(ctx(t), provider.App()); err != nil || got.AccessToken != at {
			t.Fatalf("AppToken = %v, %v; want the stored token", got, err)
		}
	}
	if n := s.Requests("token") - before; n != 0 {
		t.Fatalf("%d token requests for a token valid until 9999", n)
	}
	ts := p.TokenSource(provider.App())
	if n := testing.AllocsPerRun(100, func() { _, _ = ts.Token() }); n != 0 {
		t.Fatalf("Token allocates %v times per read: the far expiry left the fast path", n)
	}
}

// RunValidation validates every held token at once and again every
// interval, until its context ends.
func TestRunValidationRepeats(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	provUser(t, s, p, cfg.ClientID, "twitchdev", nil)
	s.ResetCounters()
	rctx, cancel := context.WithCancel(ctx(t))
	rounds := make(chan int, 16)
	done := make(chan error, 1)
	go func() {
		done <- p.RunValidation(rctx, 100*time.Millisecond, func(r []provider.ValidationResult) { rounds <- len(r) })
	}()
	for i := range 3 {
		select {
		case n := <-rounds:
			if n != 1 {
				t.Fatalf("round %d validated %d subjects, want 1", i, n)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("validation round %d did not come within 5 s (interval 100ms)", i)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("RunValidation ended with %v", err)
	}
	if n := s.Requests("validate"); n < 3 {
		t.Fatalf("the sandbox saw %d validations in 3 rounds", n)
	}
}
