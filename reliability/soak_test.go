package reliability

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// opTrace counts the HTTP attempts one operation made, by endpoint, as the
// client's base RoundTripper sees them (below the Transport's retries, above
// net/http's own).
type opTrace struct {
	id                     string
	helix, token, validate atomic.Int32
	// wire counts the requests the sandbox received for the operation,
	// net/http's own retries on a fresh connection included.
	wire atomic.Int32
}

// opHeader carries the operation's ID to the sandbox's wrapper.
const opHeader = "X-Soak-Op"

// traces finds an operation's trace by ID, for the sandbox's wrapper.
var traces sync.Map

// wireCounter wraps the sandbox's handler and counts the requests each
// operation made on the wire.
func wireCounter(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, ok := traces.Load(r.Header.Get(opHeader)); ok {
			v.(*opTrace).wire.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

type opKey struct{}

// countingRT counts attempts into the opTrace of the request's context.
type countingRT struct{ base http.RoundTripper }

func (c countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if tr, ok := r.Context().Value(opKey{}).(*opTrace); ok {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/helix/"):
			tr.helix.Add(1)
		case strings.HasSuffix(p, "/token"):
			tr.token.Add(1)
		case strings.HasSuffix(p, "/validate"):
			tr.validate.Add(1)
		}
	}
	if tr, ok := r.Context().Value(opKey{}).(*opTrace); ok {
		r = r.Clone(r.Context())
		r.Header.Set(opHeader, tr.id)
	}
	return c.base.RoundTrip(r)
}

// soakResult gathers the figures of a soak run.
type soakResult struct {
	mu             sync.Mutex
	ops            map[string]int // by operation kind
	failures       map[string]int // by operation kind and error type
	untyped        []string
	panics         []string
	maxHelixRetry  int32
	maxTokenTries  int32
	maxValidTries  int32
	maxWire        int32
	helixAttempts  int64
	tokenAttempts  int64
	validAttempts  int64
	slowest        time.Duration
	errorTexts     []string
	errorTextsSeen map[string]bool
}

func (r *soakResult) record(kind string, err error, tr *opTrace, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops[kind]++
	h, tk, v := tr.helix.Load(), tr.token.Load(), tr.validate.Load()
	r.helixAttempts += int64(h)
	r.tokenAttempts += int64(tk)
	r.validAttempts += int64(v)
	r.maxHelixRetry = max(r.maxHelixRetry, h-1)
	r.maxTokenTries = max(r.maxTokenTries, tk)
	r.maxValidTries = max(r.maxValidTries, v)
	r.slowest = max(r.slowest, took)
	r.maxWire = max(r.maxWire, tr.wire.Load())
	if err == nil {
		return
	}
	c := classify(err)
	if c == "" {
		r.untyped = append(r.untyped, fmt.Sprintf("%s: %T: %v", kind, err, err))
		c = "UNTYPED"
	}
	r.failures[kind+" "+c]++
	if msg := err.Error(); !r.errorTextsSeen[msg] && len(r.errorTexts) < 5000 {
		r.errorTextsSeen[msg] = true
		r.errorTexts = append(r.errorTexts, msg)
	}
}

// TestSoak runs thousands of operations (token refreshes, validations and
// Helix calls through the Transport and Provider, with a SQLite store) over
// 200 users while 20% of the sandbox's answers are faults, then checks that
// no grant was lost, nothing panicked, every failure was typed, no operation
// retried more than 3 times and the goroutines came back to their baseline.
func TestSoak(t *testing.T) {
	ops, users, workers := 2000, 200, 16
	if long() {
		ops = 10000
	}
	if testing.Short() {
		ops = 500
	}
	baseline := runtime.NumGoroutine()
	ctx := testCtx(t, 5*time.Minute)

	sandboxLog := newLockedBuffer()
	var userOpts []twitchtest.Option
	for i := range users {
		userOpts = append(userOpts, twitchtest.WithUser(twitchtest.User{Login: fmt.Sprintf("soak%03d", i)}))
	}
	s, err := twitchtest.New(append(userOpts,
		twitchtest.WithHelixRateLimit(1_000_000, time.Minute), // faults, not the bucket, make the 429s
		twitchtest.WithLogger(slog.New(slog.NewTextHandler(sandboxLog, nil))),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	// The sandbox is served behind wireCounter (it derives its URLs from
	// the Host of each request).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: wireCounter(s.Handler()), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(l)
	sandboxURL := "http://" + l.Addr().String()
	sandboxClosed := false
	closeSandbox := func() {
		if !sandboxClosed {
			sandboxClosed = true
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			hs.Shutdown(sctx)
			cancel()
			s.Close()
		}
	}
	defer closeSandbox()

	// Clients give up on an answer after 1 s; held requests are kept 2 s.
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.ResponseHeaderTimeout = time.Second
	base.MaxIdleConnsPerHost = workers * 2
	rt := countingRT{base: base}
	clientLog := newLockedBuffer()
	logger := slog.New(slog.NewTextHandler(clientLog, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dc := s.DefaultClient()
	cfg := &twitchauth.Config{
		ClientID: dc.ID, ClientSecret: dc.Secret,
		Endpoints:  twitchauth.Endpoints{IDURL: sandboxURL + "/oauth2", APIURL: sandboxURL + "/helix"},
		HTTPClient: &http.Client{Transport: rt, Timeout: 2 * time.Second},
		Logger:     logger,
	}
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "soak.db"), sqlite.Config{Key: store.KeyConfig{Key: make32(7)}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := provider.New(ctx, provider.Config{OAuth: cfg, Store: st, Logger: logger, RenewTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	scopes := []string{"user:read:email", "chat:read"}
	for i := range users {
		u, _ := s.User(fmt.Sprintf("soak%03d", i))
		access, refresh, err := s.MintUserToken(dc.ID, u.Login, scopes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AddUserToken(ctx, &twitchauth.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer"}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	helix := make(map[string]*twitchauth.Helix, users)
	var transports []*twitchauth.Transport
	for _, id := range ids {
		t := twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, Source: p.TokenSource(provider.User(id)), Base: rt, RetryBackoff: 20 * time.Millisecond})
		helix[id] = twitchauth.NewHelix(t)
		transports = append(transports, t)
	}

	// 20% faults on the token, validate and Helix endpoints, each from its
	// own seed.
	rates := twitchtest.FaultRates{
		Err500: 0.04, Err503: 0.04, Latency: 0.04, LatencyDur: 100 * time.Millisecond,
		Timeout: 0.01, TimeoutDur: 2 * time.Second, Reset: 0.03, Malformed: 0.02, Storm429: 0.02, StormLength: 3,
	}
	faults := map[string]*twitchtest.RandomFault{}
	for i, ep := range []string{"token", "validate", "helix"} {
		faults[ep] = twitchtest.RandomFaults(int64(1000+i), rates)
		s.SetFault(ep, faults[ep])
	}
	s.ResetCounters()

	res := &soakResult{ops: map[string]int{}, failures: map[string]int{}, errorTextsSeen: map[string]bool{}}
	var next, opID atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		rng := rand.New(rand.NewPCG(uint64(w), 99))
		wg.Go(func() {
			for next.Add(1) <= int64(ops) {
				id := ids[rng.IntN(len(ids))]
				roll := rng.IntN(100)
				tr := &opTrace{id: fmt.Sprint(opID.Add(1))}
				traces.Store(tr.id, tr)
				octx, cancel := context.WithTimeout(context.WithValue(ctx, opKey{}, tr), 10*time.Second)
				t0 := time.Now()
				kind, err := runOp(octx, s, cfg, p, helix[id], id, roll)
				cancel()
				took := time.Since(t0)
				traces.Delete(tr.id)
				res.record(kind, err, tr, took)
			}
		})
	}
	func() {
		defer func() {
			if v := recover(); v != nil {
				res.panics = append(res.panics, fmt.Sprint(v))
			}
		}()
		wg.Wait()
	}()
	elapsed := time.Since(start)
	sandboxHelix, sandboxToken, sandboxValidate := s.Requests("helix"), s.Requests("token"), s.Requests("validate")

	// Faults off: every grant must still refresh and validate.
	for _, f := range faults {
		f.SetEnabled(false)
	}
	lost := 0
	for _, id := range ids {
		tok, err := p.Refresh(ctx, provider.User(id))
		if err != nil {
			lost++
			t.Errorf("user %s: grant lost: refresh after the soak: %v", id, err)
			continue
		}
		info, err := cfg.Validate(ctx, tok.AccessToken)
		if err != nil || info.UserID != id {
			lost++
			t.Errorf("user %s: the refreshed token does not validate: %v %+v", id, err, info)
		}
	}
	for _, a := range p.Users() {
		if a.Status != "" && a.Status != store.StatusActive {
			t.Errorf("user %s left %s", a.UserID, a.Status)
		}
	}
	// What was persisted: every grant's stored refresh token is the newest
	// the sandbox issued (nothing is in flight any more), nothing is left
	// unsaved, and a new process reading the store holds working grants.
	if h := p.Health(ctx); h.Degraded() {
		t.Errorf("Provider health after the soak: %+v", h)
	}
	stale := 0
	for _, id := range ids {
		rec, err := st.Load(ctx, store.GrantKey(dc.ID, store.UserKey(id)))
		if issued := s.IssuedRefreshTokens(dc.ID, id); err != nil || len(issued) == 0 || rec.RefreshToken != issued[0] {
			stale++
			if stale <= 5 {
				t.Errorf("user %s: the stored refresh token is not the newest the sandbox issued (%v; %d renewals behind)",
					id, err, slices.Index(issued, rec.RefreshToken))
			}
		}
	}
	fresh, err := provider.New(ctx, provider.Config{OAuth: cfg, Store: st, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:20] {
		if _, err := fresh.Refresh(ctx, provider.User(id)); err != nil {
			t.Errorf("user %s: the stored grant does not refresh in a new Provider: %v", id, err)
		}
	}

	// Figures.
	var ts twitchauth.TransportStats
	for _, tp := range transports {
		st := tp.Stats()
		ts.Requests += st.Requests
		ts.Retries += st.Retries
		ts.RateLimited += st.RateLimited
		ts.Refreshes += st.Refreshes
		ts.Waits += st.Waits
		ts.WaitTime += st.WaitTime
	}
	total := 0
	for _, n := range res.ops {
		total += n
	}
	t.Logf("soak: %d operations over %d users by %d workers in %v (%.0f ops/s); slowest %v", total, users, workers, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), res.slowest.Round(time.Millisecond))
	t.Logf("operations: %v", res.ops)
	for _, ep := range []string{"token", "validate", "helix"} {
		c := faults[ep].Counts()
		t.Logf("faults at %-8s: %d of %d requests (%.1f%%): %v, %d storms, %d holds the client gave up on",
			ep, c.Total(), c.Seen, 100*float64(c.Total())/float64(max(c.Seen, 1)), c.Injected, c.Storms, c.ClientGaveUp)
	}
	nf := 0
	for _, k := range slices.Sorted(maps.Keys(res.failures)) {
		t.Logf("failure %-45s %d", k, res.failures[k])
		nf += res.failures[k]
	}
	t.Logf("failed operations: %d of %d (%.1f%%)", nf, total, 100*float64(nf)/float64(max(total, 1)))
	t.Logf("attempts seen by the base RoundTripper: helix %d, token %d, validate %d; sandbox counted helix %d, token %d, validate %d",
		res.helixAttempts, res.tokenAttempts, res.validAttempts, sandboxHelix, sandboxToken, sandboxValidate)
	t.Logf("transport stats: %+v; max Helix retries in one operation %d; max token requests in one operation %d; max validate requests %d",
		ts, res.maxHelixRetry, res.maxTokenTries, res.maxValidTries)
	t.Logf("most requests one operation put on the wire (net/http's own retries on a new connection included): %d", res.maxWire)
	t.Logf("grants lost: %d of %d; stored refresh tokens not the newest issued: %d", lost, users, stale)

	if len(res.panics) > 0 {
		t.Errorf("panics: %v", res.panics)
	}
	if strings.Contains(sandboxLog.String(), "panic") {
		t.Errorf("the sandbox logged a panic:\n%s", sandboxLog.String())
	}
	if len(res.untyped) > 0 {
		t.Errorf("%d failures of no known type, for example:\n%s", len(res.untyped), strings.Join(res.untyped[:min(10, len(res.untyped))], "\n"))
	}
	if res.maxHelixRetry > 3 {
		t.Errorf("an operation retried a Helix request %d times (at most 3 allowed)", res.maxHelixRetry)
	}
	if nf == 0 || faults["helix"].Counts().Total() == 0 {
		t.Error("no failure at all: the faults were not injected")
	}

	// No token or secret in any error text or log line.
	secrets := []string{dc.Secret}
	secrets = append(secrets, sandboxSecrets(ctx, t, st)...)
	texts := append(res.errorTexts, strings.Split(clientLog.String(), "\n")...)
	texts = append(texts, strings.Split(sandboxLog.String(), "\n")...)
	if leaks := findSecrets(texts, secrets); len(leaks) > 0 {
		t.Errorf("secrets leaked:\n%s", strings.Join(leaks, "\n"))
	}

	// Goroutines back to the baseline once everything is closed.
	for _, tp := range []*http.Transport{base} {
		tp.CloseIdleConnections()
	}
	st.Close()
	closeSandbox()
	if n := settleGoroutines(baseline, 5*time.Second); n > baseline {
		t.Errorf("goroutines: %d after the soak, %d before:\n%s", n, baseline, goroutineDump())
	} else {
		t.Logf("goroutines: %d before, %d after", baseline, n)
	}
}

// runOp runs one operation chosen by roll (0-99) and returns its kind.
func runOp(ctx context.Context, s *twitchtest.Server, cfg *twitchauth.Config, p *provider.Provider, h *twitchauth.Helix, id string, roll int) (string, error) {
	switch {
	case roll < 40:
		var out struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		err := h.Get(ctx, "/users", url.Values{"id": {id}}, &out)
		return "helix", err
	case roll < 65:
		_, err := p.Refresh(ctx, provider.User(id))
		return "refresh", err
	case roll < 85:
		tok, err := p.Token(ctx, provider.User(id))
		if err != nil {
			return "validate", err
		}
		_, err = cfg.Validate(ctx, tok.AccessToken)
		return "validate", err
	default:
		// The access token dies at Twitch: the Helix call gets a 401, the
		// Transport has the Provider refresh it and retries.
		tok, err := p.Token(ctx, provider.User(id))
		if err != nil {
			return "helix-after-expiry", err
		}
		s.ExpireAccessToken(tok.AccessToken)
		err = h.Get(ctx, "/users", url.Values{"id": {id}}, nil)
		return "helix-after-expiry", err
	}
}

// make32 returns a deterministic 32-byte key.
func make32(seed byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

// sandboxSecrets returns the tokens currently held in st.
func sandboxSecrets(ctx context.Context, t *testing.T, st store.Store) []string {
	recs, err := st.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.AccessToken, r.RefreshToken)
	}
	return out
}

// findSecrets returns a description of each text holding one of secrets,
// without repeating the secret.
func findSecrets(texts, secrets []string) []string {
	var out []string
	for _, t := range texts {
		for _, s := range secrets {
			if len(s) >= 8 && strings.Contains(t, s) {
				out = append(out, fmt.Sprintf("a %d-byte secret appears in %q", len(s), strings.ReplaceAll(t, s, "<SECRET>")))
			}
		}
	}
	return out
}
