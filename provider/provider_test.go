package provider_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// provClock is a settable clock shared by a test and a Provider.
type provClock struct{ ns atomic.Int64 }

func newProvClock() *provClock {
	c := &provClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *provClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *provClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newProvider(t *testing.T, cfg *twitchauth.Config, opts ...option) *provider.Provider {
	t.Helper()
	// Provider log lines go to the suite's leak check (see TestMain).
	opts = append([]option{withLogger(testLogger)}, opts...)
	p, err := provider.New(ctx(t), providerConfig(cfg, opts...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProviderAddUserAndIntents(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	dev, _ := s.User("twitchdev")
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", []string{"chat:read", "chat:edit"}, "chat")
	if tok.UserID != dev.ID || tok.Login != "twitchdev" || !tok.HasScope("chat:edit") {
		t.Fatalf("AddUserToken learned %+v, want user %s with its scopes", tok, dev.ID)
	}
	got, err := p.Token(ctx(t), provider.Intent("chat"))
	if err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("IntentToken(chat) = %v, %v", got, err)
	}
	// Moving the intent to another user.
	other := s.Users()[1]
	tok2 := provUser(t, s, p, cfg.ClientID, other.Login, nil)
	if err := p.SetIntent(ctx(t), "chat", tok2.UserID); err != nil {
		t.Fatal(err)
	}
	ts := p.TokenSource(provider.Intent("chat"))
	o, err := ts.Token()
	if err != nil || o.AccessToken != tok2.AccessToken {
		t.Fatalf("intent source after SetIntent = %v, %v; want the other user's token", o, err)
	}
	if in := p.Intents(); in["chat"] != tok2.UserID {
		t.Fatalf("Intents() = %v", in)
	}
	if _, err := p.Token(ctx(t), provider.Intent("nope")); !errors.Is(err, provider.ErrUnknownSubject) {
		t.Fatalf("unknown intent: %v", err)
	}
	if _, err := p.Token(ctx(t), provider.User("999999999")); !errors.Is(err, provider.ErrUnknownSubject) {
		t.Fatalf("unknown user: %v", err)
	}
	// The scopes helper.
	if _, err := p.TokenWithScopes(ctx(t), provider.User(tok.UserID), "chat:read"); err != nil {
		t.Fatal(err)
	}
	_, err = p.TokenWithScopes(ctx(t), provider.User(tok.UserID), "chat:read", "bits:read", "channel:moderate")
	var mse *twitchauth.MissingScopesError
	if !errors.As(err, &mse) || !errors.Is(err, twitchauth.ErrMissingScopes) || !slices.Equal(mse.Missing, []string{"bits:read", "channel:moderate"}) {
		t.Fatalf("TokenWithScopes missing = %v", err)
	}
	// An app token is refused as a user token.
	app, _ := cfg.AppToken(ctx(t))
	if _, err := p.AddUserToken(ctx(t), app); err == nil {
		t.Fatal("AddUserToken accepted an app token")
	}
	if users := p.Users(); len(users) != 2 {
		t.Fatalf("Users() = %v", users)
	}
	if id, ok := p.LookupLogin("TwitchDev"); !ok || id != dev.ID {
		t.Fatalf("LookupLogin(TwitchDev) = %q, %v", id, ok)
	}
	if a, ok := p.User(dev.ID); !ok || a.Login != "twitchdev" || !slices.Contains(a.Scopes, "chat:edit") {
		t.Fatalf("User(%s) = %+v, %v", dev.ID, a, ok)
	}
	if _, ok := p.User("999999999"); ok {
		t.Fatal("User of an unknown ID")
	}
}

func TestProviderAddUserFromCodeAndDevice(t *testing.T) {
	s := newSandbox(t, twitchtest.WithDeviceInterval(time.Second))
	cfg := confidential(s)
	cfg.Scopes = []string{"user:read:email"}
	p := newProvider(t, cfg)
	u, err := s.Authorize(cfg.AuthorizeURL("st"), "twitchdev")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.AddUserFromCode(ctx(t), u.Query().Get("code"), "broadcaster")
	if err != nil || tok.Login != "twitchdev" || !tok.HasScope("user:read:email") {
		t.Fatalf("AddUserFromCode = %v, %v", tok, err)
	}

	pub := public(s)
	pp := newProvider(t, pub)
	da, err := pub.StartDevice(ctx(t), "chat:read")
	if err != nil {
		t.Fatal(err)
	}
	viewer := s.Users()[2]
	if err := s.ApproveDevice(da.UserCode, viewer.Login); err != nil {
		t.Fatal(err)
	}
	dt, err := pp.AddUserFromDevice(ctx(t), da, "chat")
	if err != nil || dt.UserID != viewer.ID {
		t.Fatalf("AddUserFromDevice = %v, %v", dt, err)
	}
	if id := pp.Intents()["chat"]; id != viewer.ID {
		t.Fatalf("intent chat → %q", id)
	}
}

// TestProviderSingleFlightExpiry: 10,000 goroutines ask for a token that has
// just expired; the sandbox sees exactly one refresh (and one app token
// request for the app subject), and every caller gets the new token.
func TestProviderSingleFlightExpiry(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	clock := newProvClock()
	var refreshed atomic.Int32
	p := newProvider(t, cfg, withClock(clock.Now), withHooks(provider.Hooks{
		OnRefresh: func(provider.Subject, *twitchauth.Token) { refreshed.Add(1) },
	}))
	old := provUser(t, s, p, cfg.ClientID, "twitchdev", []string{"chat:read"})
	if _, err := p.Token(ctx(t), provider.App()); err != nil {
		t.Fatal(err)
	}
	s.ResetCounters()
	refreshed.Store(0)
	clock.Advance(5 * time.Hour) // past both the user token's expiry and the margin

	const n = 10000
	var wg sync.WaitGroup
	tokens := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			tok, err := p.Token(ctx(t), provider.User(old.UserID))
			if err == nil {
				tokens[i] = tok.AccessToken
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if tokens[i] == old.AccessToken || tokens[i] != tokens[0] {
			t.Fatalf("caller %d got %q, want the one new token", i, tokens[i])
		}
	}
	if got := s.Requests("token:refresh_token"); got != 1 {
		t.Fatalf("upstream refreshes = %d, want exactly 1", got)
	}
	if refreshed.Load() != 1 {
		t.Fatalf("OnRefresh fired %d times", refreshed.Load())
	}

	// The app token: past 60 days, 10,000 callers, one client_credentials.
	clock.Advance(61 * 24 * time.Hour)
	s.ResetCounters()
	src := p.TokenSource(provider.App())
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := src.Token(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := s.Requests("token:client_credentials"); got != 1 {
		t.Fatalf("app token requests = %d, want exactly 1", got)
	}
}

// TestProviderSingleFlight401Storm: 10,000 goroutines report the same
// refused token (as a Helix transport does after a 401): one refresh.
func TestProviderSingleFlight401Storm(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	old := provUser(t, s, p, cfg.ClientID, "twitchdev", []string{"chat:read"})
	s.ExpireAccessToken(old.AccessToken)
	s.ResetCounters()
	ts := p.TokenSource(provider.User(old.UserID))
	const n = 10000
	var wg sync.WaitGroup
	var bad atomic.Int32
	var first atomic.Value
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := ts.Invalidate(context.Background(), old.AccessToken)
			if err != nil || o.AccessToken == old.AccessToken {
				bad.Add(1)
				return
			}
			first.CompareAndSwap(nil, o.AccessToken)
			if first.Load() != o.AccessToken {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d callers did not get the one renewed token", bad.Load())
	}
	if got := s.Requests("token:refresh_token"); got != 1 {
		t.Fatalf("upstream refreshes = %d, want exactly 1", got)
	}
	// The new token works at Twitch.
	nt, _ := p.Token(ctx(t), provider.User(old.UserID))
	leaks.Secret(nt.AccessToken, nt.RefreshToken)
	if _, err := cfg.Validate(ctx(t), nt.AccessToken); err != nil {
		t.Fatalf("renewed token does not validate: %v", err)
	}
}

// TestProviderReloadsRotatedToken: two processes share a store and a public
// client's single-use refresh tokens. The second one, holding a stale cache,
// adopts the first one's rotation instead of reusing the spent refresh token
// (which would revoke the grant).
func TestProviderReloadsRotatedToken(t *testing.T) {
	s := newSandbox(t)
	cfg := public(s)
	shared := store.NewMemory()
	clock := newProvClock()
	a := newProvider(t, cfg, withStore(shared), withClock(clock.Now))
	tok := provUser(t, s, a, cfg.ClientID, "twitchdev", []string{"chat:read"})
	b := newProvider(t, cfg, withStore(shared), withClock(clock.Now))
	if _, err := b.Token(ctx(t), provider.User(tok.UserID)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Hour)
	s.ResetCounters()
	ta, err := a.Token(ctx(t), provider.User(tok.UserID))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Token(ctx(t), provider.User(tok.UserID))
	if err != nil {
		t.Fatal(err)
	}
	if ta.AccessToken != tb.AccessToken {
		t.Fatal("the second process did not adopt the stored rotation")
	}
	if got := s.Requests("token:refresh_token"); got != 1 {
		t.Fatalf("refreshes = %d, want 1", got)
	}
	// A process that ignored the store would have reused the spent refresh
	// token; ours still holds a live grant.
	clock.Advance(5 * time.Hour)
	if _, err := b.Token(ctx(t), provider.User(tok.UserID)); err != nil {
		t.Fatalf("grant lost: %v", err)
	}
	if _, err := a.Refresh(ctx(t), provider.User(tok.UserID)); err != nil {
		t.Fatalf("grant lost after cross-process refreshes: %v", err)
	}
}

// TestProviderInvalidRefreshTokenReloads: the store was updated behind the
// Provider's back (another process rotated the token and our cache holds
// the spent one, refused upstream); the Provider reloads and retries rather
// than declaring the grant dead.
func TestProviderInvalidRefreshTokenReloads(t *testing.T) {
	s := newSandbox(t)
	cfg := public(s)
	shared := store.NewMemory()
	clock := newProvClock()
	a := newProvider(t, cfg, withStore(shared), withClock(clock.Now))
	tok := provUser(t, s, a, cfg.ClientID, "twitchdev", nil)
	key := store.GrantKey(cfg.ClientID, provider.User(tok.UserID).String())
	// Another process refreshed: the store now holds a newer refresh token.
	nt, err := cfg.Refresh(ctx(t), tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := shared.Load(ctx(t), key)
	rec.AccessToken, rec.RefreshToken, rec.Expiry = nt.AccessToken, nt.RefreshToken, nt.Expiry
	if _, err := shared.Save(ctx(t), rec, rec.Version); err != nil {
		t.Fatal(err)
	}
	// Our in-memory entry is stale only if Provider did not see the save;
	// force the situation by refreshing through a provider with the old
	// version cached.
	clock.Advance(5 * time.Hour)
	got, err := a.Token(ctx(t), provider.User(tok.UserID))
	if err != nil {
		t.Fatalf("UserToken: %v", err)
	}
	if got.RefreshToken == tok.RefreshToken {
		t.Fatal("the spent refresh token is still in use")
	}
}

func TestProviderDeadGrantKeepsRecord(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	clock := newProvClock()
	var failures []*provider.RefreshError
	var mu sync.Mutex
	st := store.NewMemory()
	p := newProvider(t, cfg, withStore(st), withClock(clock.Now), withHooks(provider.Hooks{
		OnRefreshFailure: func(e *provider.RefreshError) { mu.Lock(); failures = append(failures, e); mu.Unlock() },
	}))
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", nil)

	// A transient failure (the token endpoint answers 500): the grant is
	// kept and the current, still unexpired token is served.
	s.SetFault("token", twitchtest.FaultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, `{"status":500,"message":"Internal Server Error"}`, 500)
		return true
	}))
	clock.Advance(4*time.Hour - time.Minute) // inside the refresh margin, not expired
	got, err := p.Token(ctx(t), provider.User(tok.UserID))
	if err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("transient failure near expiry: %v, %v; want the current token", got, err)
	}
	// During the outage, reads are served without asking again until the
	// retry backoff has passed.
	tries := s.Requests("token")
	for range 100 {
		if _, err := p.Token(ctx(t), provider.User(tok.UserID)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Requests("token") != tries {
		t.Fatalf("%d renewal attempts within the backoff", s.Requests("token")-tries)
	}
	clock.Advance(provider.RenewRetryBackoff)
	if _, err := p.Token(ctx(t), provider.User(tok.UserID)); err != nil || s.Requests("token") != tries+1 {
		t.Fatalf("after the backoff: %v, %d attempts", err, s.Requests("token")-tries)
	}
	clock.Advance(time.Hour) // now expired: the error surfaces, typed, transient
	_, err = p.Token(ctx(t), provider.User(tok.UserID))
	leaks.Text(err.Error())
	var re *provider.RefreshError
	if !errors.As(err, &re) || re.Dead || errors.Is(err, provider.ErrGrantDead) {
		t.Fatalf("expired + 500: %v; want a transient *RefreshError", err)
	}
	if rec, _ := st.Load(ctx(t), store.GrantKey(cfg.ClientID, provider.User(tok.UserID).String())); rec.RefreshToken != tok.RefreshToken || rec.Status != store.StatusActive {
		t.Fatalf("a transient failure changed the stored grant: %+v", rec.Status)
	}
	s.SetFault("token", nil)

	// The user disconnects the app: the refresh token is refused → dead,
	// kept in the store (never deleted), hook says Dead.
	s.RevokeGrant(cfg.ClientID, tok.UserID)
	_, err = p.Token(ctx(t), provider.User(tok.UserID))
	leaks.Text(err.Error())
	if !errors.Is(err, provider.ErrGrantDead) || !errors.Is(err, twitchauth.ErrInvalidRefreshToken) {
		t.Fatalf("revoked grant: %v; want ErrGrantDead wrapping ErrInvalidRefreshToken", err)
	}
	rec, err := st.Load(ctx(t), store.GrantKey(cfg.ClientID, provider.User(tok.UserID).String()))
	if err != nil || rec.Status != store.StatusDead || rec.RefreshToken != tok.RefreshToken {
		t.Fatalf("stored grant after death: %v %+v", err, rec.Status)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failures) < 2 || failures[0].Dead || !failures[len(failures)-1].Dead {
		t.Fatalf("failure hooks: %v", failures)
	}
	// No further upstream requests for a dead grant.
	s.ResetCounters()
	if _, err := p.Token(ctx(t), provider.User(tok.UserID)); !errors.Is(err, provider.ErrGrantDead) {
		t.Fatal(err)
	}
	if s.Requests("token") != 0 {
		t.Fatal("a dead grant was refreshed again")
	}
}

func TestProviderValidation(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	st := store.NewMemory()
	var revoked, changed atomic.Int32
	p := newProvider(t, cfg, withStore(st), withHooks(provider.Hooks{
		OnRevoked:       func(provider.Subject) { revoked.Add(1) },
		OnScopesChanged: func(_ provider.Subject, old, new []string) { changed.Add(1) },
	}))
	if _, err := p.Token(ctx(t), provider.App()); err != nil {
		t.Fatal(err)
	}
	a := provUser(t, s, p, cfg.ClientID, "twitchdev", []string{"chat:read"})
	b := provUser(t, s, p, cfg.ClientID, s.Users()[1].Login, []string{"chat:read"})
	c := provUser(t, s, p, cfg.ClientID, s.Users()[2].Login, []string{"chat:read"})

	s.ResetCounters()
	res := p.ValidateAll(ctx(t))
	if len(res) != 4 || s.Requests("validate") != 4 {
		t.Fatalf("ValidateAll validated %d subjects with %d requests; want 4", len(res), s.Requests("validate"))
	}
	for _, r := range res {
		if !r.Valid || r.Err != nil {
			t.Fatalf("%+v", r)
		}
	}
	// b's grant is revoked; c's token alone is expired (refresh works); a's
	// stored scopes differ from what Twitch says.
	s.RevokeGrant(cfg.ClientID, b.UserID)
	s.ExpireAccessToken(c.AccessToken)
	rec, _ := st.Load(ctx(t), store.GrantKey(cfg.ClientID, provider.User(a.UserID).String()))
	rec.Scopes = []string{"chat:read", "chat:edit"}
	if _, err := st.Save(ctx(t), rec, rec.Version); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(ctx(t)); err != nil {
		t.Fatal(err)
	}
	res = p.ValidateAll(ctx(t))
	byKey := map[provider.Subject]provider.ValidationResult{}
	for _, r := range res {
		byKey[r.Subject] = r
	}
	if r := byKey[provider.User(b.UserID)]; !r.Revoked || revoked.Load() != 1 {
		t.Fatalf("revoked grant: %+v (hook %d)", r, revoked.Load())
	}
	if r := byKey[provider.User(c.UserID)]; !r.Valid || !r.Renewed {
		t.Fatalf("expired token: %+v", r)
	}
	if r := byKey[provider.User(a.UserID)]; !r.ScopesChanged || changed.Load() != 1 {
		t.Fatalf("scopes: %+v", r)
	}
	if got, _ := st.Load(ctx(t), store.GrantKey(cfg.ClientID, provider.User(a.UserID).String())); !slices.Equal(got.Scopes, []string{"chat:read"}) || got.LastValidated.IsZero() {
		t.Fatalf("validation did not store scopes/time: %v %v", got.Scopes, got.LastValidated)
	}
	if _, err := p.Token(ctx(t), provider.User(b.UserID)); !errors.Is(err, provider.ErrGrantRevoked) {
		t.Fatalf("revoked user token: %v", err)
	}
	// RunValidation validates at once and stops with its context.
	rctx, cancel := context.WithCancel(ctx(t))
	rounds := make(chan []provider.ValidationResult, 1)
	done := make(chan error)
	go func() {
		done <- p.RunValidation(rctx, time.Hour, func(r []provider.ValidationResult) { rounds <- r })
	}()
	select {
	case r := <-rounds:
		// The memory store schedules validation (store.ValidationClaimer):
		// at start-up only what the fleet did not validate within the
		// interval is due, here the app token; the users' grants were stored
		// validated (AddUserToken) and the revoked one is skipped.
		if len(r) != 1 || !r[0].Subject.IsApp() {
			t.Fatalf("first round: %+v, want the app token alone", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunValidation did not validate at once")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func TestProviderRemoveUserRevokes(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", nil, "chat")
	if err := p.RemoveUser(ctx(t), tok.UserID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Validate(ctx(t), tok.AccessToken); !errors.Is(err, twitchauth.ErrInvalidToken) {
		t.Fatalf("token still valid after RemoveUser(revoke): %v", err)
	}
	if _, err := cfg.Refresh(ctx(t), tok.RefreshToken); !errors.Is(err, twitchauth.ErrInvalidRefreshToken) {
		t.Fatalf("refresh token still valid after RemoveUser(revoke): %v", err)
	}
	if _, err := p.Token(ctx(t), provider.User(tok.UserID)); !errors.Is(err, provider.ErrUnknownSubject) {
		t.Fatal(err)
	}
	if _, ok := p.User(tok.UserID); ok {
		t.Fatal("User still reports a removed grant")
	}
	if _, ok := p.LookupLogin(tok.Login); ok {
		t.Fatal("LookupLogin still finds a removed grant")
	}
	if _, err := p.Token(ctx(t), provider.Intent("chat")); !errors.Is(err, provider.ErrUnknownSubject) {
		t.Fatal(err)
	}
}

// TestTokenSourceFastPathAllocs: reading a valid cached token allocates
// nothing.
func TestTokenSourceFastPathAllocs(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", nil, "chat")
	for name, ts := range map[string]*provider.TokenSource{
		"user": p.TokenSource(provider.User(tok.UserID)), "intent": p.TokenSource(provider.Intent("chat")),
	} {
		if _, err := ts.Token(); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(1000, func() { _, _ = ts.Token() }); n != 0 {
			t.Errorf("%s source: %v allocations per cached read, want 0", name, n)
		}
	}
}

// TestTokenSourceCachedSubjectCoherent: a user TokenSource caches its
// subject for the fast path; that cache must not outlive the grant. A grant
// removed here, or by another process and then seen by Reload, is no longer
// served, and a grant added again is served with its new token.
func TestTokenSourceCachedSubjectCoherent(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	shared := store.NewMemory()
	a := newProvider(t, cfg, withStore(shared))
	tok := provUser(t, s, a, cfg.ClientID, "twitchdev", nil)
	b := newProvider(t, cfg, withStore(shared))
	tsA, tsB := a.TokenSource(provider.User(tok.UserID)), b.TokenSource(provider.User(tok.UserID))
	for _, ts := range []*provider.TokenSource{tsA, tsB} {
		for range 2 { // the second read takes the cached subject
			if got, err := ts.Token(); err != nil || got.AccessToken != tok.AccessToken {
				t.Fatalf("cached read: token %v, err %v", got != nil, err)
			}
		}
	}
	if err := a.RemoveUser(ctx(t), tok.UserID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := tsA.Token(); !errors.Is(err, provider.ErrUnknownSubject) {
		t.Fatalf("read after RemoveUser: %v, want ErrUnknownSubject", err)
	}
	// b learns of the removal only through Reload (no watch here).
	if err := b.Reload(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got, err := tsB.Token(); !errors.Is(err, provider.ErrUnknownSubject) {
		t.Fatalf("read after another process removed the grant and Reload: token %v, err %v; want ErrUnknownSubject", got != nil, err)
	}
	again := provUser(t, s, a, cfg.ClientID, "twitchdev", nil)
	if got, err := tsA.Token(); err != nil || got.AccessToken != again.AccessToken {
		t.Fatalf("read after the grant was added again: new token %v, err %v", got != nil && got.AccessToken == again.AccessToken, err)
	}
}

// BenchmarkCachedToken compares a cached-token read through our TokenSource
// with x/oauth2's ReuseTokenSource holding the same token.
func BenchmarkCachedToken(b *testing.B) {
	s := twitchtest.NewServer(b)
	c := s.DefaultClient()
	cfg := &twitchauth.Config{ClientID: c.ID, ClientSecret: c.Secret,
		Endpoints: twitchauth.Endpoints{IDURL: s.IDURL(), APIURL: s.APIURL()}}
	p, err := provider.New(context.Background(), provider.Config{OAuth: cfg})
	if err != nil {
		b.Fatal(err)
	}
	access, refresh, _ := s.MintUserToken(c.ID, "twitchdev", []string{"chat:read"})
	tok, err := p.AddUserToken(context.Background(), &twitchauth.Token{AccessToken: access, RefreshToken: refresh})
	if err != nil {
		b.Fatal(err)
	}
	ours := p.TokenSource(provider.User(tok.UserID))
	app := p.TokenSource(provider.App())
	if _, err := app.Token(); err != nil {
		b.Fatal(err)
	}
	reuse := oauth2.ReuseTokenSource(tok.OAuth2(), oauth2.StaticTokenSource(tok.OAuth2()))
	for _, bc := range []struct {
		name string
		src  oauth2.TokenSource
	}{{"twitchauth", ours}, {"twitchauth-app", app}, {"x-oauth2-ReuseTokenSource", reuse}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bc.src.Token(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// TestProviderSecretRotation: "New Secret" in the developer console refuses
// the old secret at once. Renewals then fail with ErrInvalidClientSecret,
// which is not a dead grant; SetClientSecret mends it without a restart.
func TestProviderSecretRotation(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	st := store.NewMemory()
	var failures []*provider.RefreshError
	p := newProvider(t, cfg, withStore(st), withHooks(provider.Hooks{
		OnRefreshFailure: func(e *provider.RefreshError) { failures = append(failures, e) },
	}))
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", nil)
	newSecret, err := s.RotateClientSecret(cfg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	leaks.Secret(newSecret)
	_, err = p.Refresh(ctx(t), provider.User(tok.UserID))
	leaks.Text(err.Error())
	if !errors.Is(err, twitchauth.ErrInvalidClientSecret) || errors.Is(err, provider.ErrGrantDead) {
		t.Fatalf("refresh with a rotated secret: %v; want ErrInvalidClientSecret, grant kept", err)
	}
	if len(failures) != 1 || failures[0].Dead {
		t.Fatalf("hook: %+v", failures)
	}
	if rec, _ := st.Load(ctx(t), store.GrantKey(cfg.ClientID, provider.User(tok.UserID).String())); rec.Status != store.StatusActive {
		t.Fatalf("grant status %q after a refused secret", rec.Status)
	}
	if _, err := p.Refresh(ctx(t), provider.App()); !errors.Is(err, twitchauth.ErrInvalidClientSecret) {
		t.Fatalf("app token with a rotated secret: %v", err)
	}
	p.SetClientSecret(newSecret)
	if cfg.ClientSecret == newSecret {
		t.Fatal("SetClientSecret modified the caller's Config")
	}
	if _, err := p.Refresh(ctx(t), provider.User(tok.UserID)); err != nil {
		t.Fatalf("refresh after SetClientSecret: %v", err)
	}
	if _, err := p.Refresh(ctx(t), provider.App()); err != nil {
		t.Fatalf("app token after SetClientSecret: %v", err)
	}
	if r := p.Validate(ctx(t), provider.User(tok.UserID)); !r.Valid || r.Err != nil {
		t.Fatalf("Validate: %+v", r)
	}
}

// TestSetIntentIf: the intent moves only from the user the caller names,
// and "" unassigns; a stale expectation changes nothing.
func TestSetIntentIf(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	a := provUser(t, s, p, cfg.ClientID, s.Users()[0].Login, nil)
	b := provUser(t, s, p, cfg.ClientID, s.Users()[1].Login, nil)
	if err := p.SetIntentIf(ctx(t), "chat", a.UserID, b.UserID); !errors.Is(err, provider.ErrIntentChanged) {
		t.Fatalf("moving an unassigned intent from a user: %v, want ErrIntentChanged", err)
	}
	if err := p.SetIntentIf(ctx(t), "chat", "", a.UserID); err != nil {
		t.Fatal(err)
	}
	if err := p.SetIntentIf(ctx(t), "chat", "", b.UserID); !errors.Is(err, provider.ErrIntentChanged) {
		t.Fatalf("assigning a bound intent as if unassigned: %v, want ErrIntentChanged", err)
	}
	if got := p.Intents()["chat"]; got != a.UserID {
		t.Fatalf("a refused SetIntentIf moved the intent to %s", got)
	}
	if err := p.SetIntentIf(ctx(t), "chat", a.UserID, b.UserID); err != nil {
		t.Fatal(err)
	}
	if got := p.Intents()["chat"]; got != b.UserID {
		t.Fatalf("intent -> %s after the move, want %s", got, b.UserID)
	}
	if acct, _ := p.User(a.UserID); slices.Contains(acct.Intents, "chat") {
		t.Fatal("the previous user still lists the intent")
	}
	if err := p.SetIntentIf(ctx(t), "chat", b.UserID, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Intents()["chat"]; ok {
		t.Fatal("the intent is still assigned after unassigning")
	}
	if acct, _ := p.User(b.UserID); slices.Contains(acct.Intents, "chat") {
		t.Fatal("the user still lists the unassigned intent")
	}
}

// TestTokenSourceCachedReadHonoursMargin: a TokenSource's cached read (the
// fast path) serves the token up to, and never past, expiry minus the
// refresh margin, driven by the Provider's Now hook (issue 21 item 5).
func TestTokenSourceCachedReadHonoursMargin(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	clock := newProvClock()
	p := newProvider(t, cfg, withClock(clock.Now))
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", []string{"chat:read"})
	if tok.Expiry.IsZero() {
		t.Fatal("sandbox token has no expiry")
	}
	ts := p.TokenSource(provider.User(tok.UserID))
	for range 2 { // the first read caches the subject, the second is the fast path
		if got, err := ts.Token(); err != nil || got.AccessToken != tok.AccessToken {
			t.Fatalf("cached read: same token %v, err %v", got != nil && got.AccessToken == tok.AccessToken, err)
		}
	}
	refreshAt := tok.Expiry.Add(-provider.DefaultRefreshMargin)
	clock.Advance(refreshAt.Sub(clock.Now()) - time.Second)
	if got, err := ts.Token(); err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("read 1 s before the margin: same token %v, err %v; want the cached one", got != nil && got.AccessToken == tok.AccessToken, err)
	}
	s.ResetCounters()
	clock.Advance(time.Second) // exactly at expiry - margin: no longer fresh
	got, err := ts.Token()
	if err != nil || got.AccessToken == tok.AccessToken {
		t.Fatalf("read at expiry - margin: served the old token %v, err %v; want a renewed one", got != nil && got.AccessToken == tok.AccessToken, err)
	}
	if n := s.Requests("token:refresh_token"); n != 1 {
		t.Fatalf("upstream refreshes = %d, want 1", n)
	}
}

// TestTokenSourceCachedReadHonoursMarginRealClock is the same on the real
// clock, where the fast path reads only the monotonic clock against the
// entry's deadline: a user token living 3 s past the default margin is
// served from the cache, then renewed once the margin is reached.
func TestTokenSourceCachedReadHonoursMarginRealClock(t *testing.T) {
	s := newSandbox(t, twitchtest.WithUserTokenLifetime(provider.DefaultRefreshMargin+3*time.Second))
	cfg := confidential(s)
	p := newProvider(t, cfg)
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", []string{"chat:read"})
	ts := p.TokenSource(provider.User(tok.UserID))
	for range 2 {
		if got, err := ts.Token(); err != nil || got.AccessToken != tok.AccessToken {
			t.Fatalf("cached read: same token %v, err %v", got != nil && got.AccessToken == tok.AccessToken, err)
		}
	}
	s.ResetCounters()
	time.Sleep(time.Until(tok.Expiry.Add(-provider.DefaultRefreshMargin)) + 20*time.Millisecond)
	got, err := ts.Token()
	if err != nil || got.AccessToken == tok.AccessToken {
		t.Fatalf("read past expiry - margin: served the old token %v, err %v; want a renewed one", got != nil && got.AccessToken == tok.AccessToken, err)
	}
	if n := s.Requests("token:refresh_token"); n != 1 {
		t.Fatalf("upstream refreshes = %d, want 1", n)
	}
}

// TestUserCountMatchesUsers: UserCount counts what Users lists — users only,
// not the app token — as grants are added and removed, without allocating.
func TestUserCountMatchesUsers(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	if _, err := p.Token(ctx(t), provider.App()); err != nil {
		t.Fatal(err)
	}
	check := func(want int) {
		t.Helper()
		if got, listed := p.UserCount(), len(p.Users()); got != want || listed != want {
			t.Fatalf("UserCount = %d, len(Users) = %d, want %d", got, listed, want)
		}
	}
	check(0)
	var ids []string
	for _, u := range s.Users()[:3] {
		ids = append(ids, provUser(t, s, p, cfg.ClientID, u.Login, nil).UserID)
	}
	check(3)
	if err := p.RemoveUser(ctx(t), ids[1], false); err != nil {
		t.Fatal(err)
	}
	check(2)
	if n := testing.AllocsPerRun(100, func() { p.UserCount() }); n != 0 {
		t.Fatalf("UserCount allocates %.0f times", n)
	}
}
