package extension

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

type mwClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *mwClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *mwClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newTestHandler returns the middleware around a handler echoing the claims.
func newTestHandler(t *testing.T, cfg MiddlewareConfig, clock *mwClock) http.Handler {
	t.Helper()
	if cfg.Verifier == nil {
		v, err := NewVerifier(NewKeyring(Secret{Secret: testKey}), VerifierConfig{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Verifier = v
	}
	cfg.Now = clock.Now
	cfg.Logger = slog.New(slog.DiscardHandler)
	mw, err := NewMiddleware(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := ClaimsFromContext(r.Context())
		if !ok {
			t.Error("no claims in context")
		}
		fmt.Fprintf(w, "hello %s in %s", c.OpaqueUserID, c.ChannelID)
	}))
}

func viewerToken(clock *mwClock, opaque, channel string, ttl time.Duration) string {
	return rawToken(testKey, hs256, fmt.Sprintf(`{"exp":%d,"opaque_user_id":%q,"channel_id":%q,"role":"viewer"}`, clock.Now().Add(ttl).Unix(), opaque, channel))
}

type apiError struct {
	Error   string `json:"error"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func do(h http.Handler, method string, hdr map[string]string) (*httptest.ResponseRecorder, apiError) {
	req := httptest.NewRequest(method, "/api/hello", nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var e apiError
	if rec.Code >= 400 {
		body, _ := io.ReadAll(rec.Body)
		if err := json.Unmarshal(body, &e); err != nil {
			e.Message = "NOT JSON: " + string(body)
		}
	}
	return rec, e
}

func TestMiddlewareAuth(t *testing.T) {
	clock := &mwClock{now: testNow}
	h := newTestHandler(t, MiddlewareConfig{ClientID: "abc123"}, clock)
	tok := viewerToken(clock, "U1", "42", time.Minute)

	for _, hdr := range []map[string]string{
		{"Authorization": "Bearer " + tok},
		{"Authorization": "bearer  " + tok},
		{"X-Extension-Jwt": tok},
		{"Authorization": "Basic Zm9vOmJhcg==", "x-extension-jwt": tok},
	} {
		rec, e := do(h, http.MethodGet, hdr)
		if rec.Code != 200 || rec.Body.String() != "hello U1 in 42" {
			t.Fatalf("%v: %d %s %v", hdr, rec.Code, rec.Body, e)
		}
	}

	cases := []struct {
		name string
		hdr  map[string]string
		msg  string
	}{
		{"missing", nil, "missing"},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, "missing"},
		{"other scheme", map[string]string{"Authorization": "OAuth " + tok}, "missing"},
		{"expired", map[string]string{"Authorization": "Bearer " + viewerToken(clock, "U1", "42", -time.Second)}, "expired"},
		{"wrong secret", map[string]string{"Authorization": "Bearer " + rawToken(otherKey, hs256, typicalPayload)}, "invalid"},
		{"garbage", map[string]string{"Authorization": "Bearer not.a.jwt"}, "invalid"},
		{"alg none", map[string]string{"x-extension-jwt": seg(`{"alg":"none"}`) + "." + seg(typicalPayload) + "."}, "invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, e := do(h, http.MethodGet, c.hdr)
			if rec.Code != http.StatusUnauthorized || e.Status != 401 || e.Error != "Unauthorized" || !strings.HasPrefix(e.Message, c.msg) {
				t.Fatalf("%d %+v", rec.Code, e)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("content type %q", ct)
			}
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("no WWW-Authenticate")
			}
		})
	}
}

func TestMiddlewareRateLimits(t *testing.T) {
	clock := &mwClock{now: testNow}
	h := newTestHandler(t, MiddlewareConfig{ViewerRate: 0.1, ViewerBurst: 2, ChannelRate: 2, ChannelBurst: 3}, clock)
	get := func(opaque, channel string) (*httptest.ResponseRecorder, apiError) {
		return do(h, http.MethodGet, map[string]string{"Authorization": "Bearer " + viewerToken(clock, opaque, channel, time.Minute)})
	}
	// Viewer U1: burst 2, then 429 with Retry-After.
	for i := range 2 {
		if rec, e := get("U1", "c1"); rec.Code != 200 {
			t.Fatalf("request %d: %d %+v", i, rec.Code, e)
		}
	}
	rec, e := get("U1", "c1")
	if rec.Code != http.StatusTooManyRequests || e.Status != 429 || !strings.Contains(e.Message, "viewer") {
		t.Fatalf("%d %+v", rec.Code, e)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "10" {
		t.Fatalf("Retry-After %q", ra)
	}
	// Another viewer in the same channel uses the channel's last token ...
	if rec, e := get("U2", "c1"); rec.Code != 200 {
		t.Fatalf("%d %+v", rec.Code, e)
	}
	// ... then the channel is exhausted for everyone.
	rec, e = get("U3", "c1")
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(e.Message, "channel") || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("%d %+v", rec.Code, e)
	}
	// A refused request did not use U3's own token: once the channel has
	// two tokens again (1 s), U3 still has its full burst of 2 (a viewer
	// token takes 10 s to come back).
	clock.Add(time.Second)
	for i := range 2 {
		if rec, e := get("U3", "c1"); rec.Code != 200 {
			t.Fatalf("U3 request %d: %d %+v", i, rec.Code, e)
		}
	}
	// Other channels are unaffected.
	if rec, _ := get("U9", "c2"); rec.Code != 200 {
		t.Fatalf("%d", rec.Code)
	}
	// After ten seconds, U1 may go again.
	clock.Add(10 * time.Second)
	if rec, e := get("U1", "c3"); rec.Code != 200 {
		t.Fatalf("%d %+v", rec.Code, e)
	}
}

func TestMiddlewareCORS(t *testing.T) {
	clock := &mwClock{now: testNow}
	h := newTestHandler(t, MiddlewareConfig{ClientID: "AbC123"}, clock)
	origin := "https://abc123.ext-twitch.tv"

	rec, _ := do(h, http.MethodOptions, map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
	if rec.Code != http.StatusNoContent {
		t.Fatalf("preflight %d", rec.Code)
	}
	hd := rec.Header()
	if hd.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(hd.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("%v", hd)
	}
	for _, want := range []string{"Authorization", "x-extension-jwt", "Content-Type"} {
		if !strings.Contains(hd.Get("Access-Control-Allow-Headers"), want) {
			t.Fatalf("allowed headers %q lack %s", hd.Get("Access-Control-Allow-Headers"), want)
		}
	}
	// Another origin: no CORS grant.
	rec, e := do(h, http.MethodOptions, map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
	if rec.Code != http.StatusForbidden || rec.Header().Get("Access-Control-Allow-Origin") != "" || e.Status != 403 {
		t.Fatalf("foreign preflight %d %v", rec.Code, rec.Header())
	}
	// A real request from the extension origin gets the header, even on 401.
	rec, _ = do(h, http.MethodGet, map[string]string{"Origin": origin})
	if rec.Code != 401 || rec.Header().Get("Access-Control-Allow-Origin") != origin || !strings.Contains(rec.Header().Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	rec, _ = do(h, http.MethodGet, map[string]string{"Origin": "https://evil.example", "Authorization": "Bearer " + viewerToken(clock, "U1", "1", time.Minute)})
	if rec.Code != 200 || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	// A configured list replaces the default origin.
	h2 := newTestHandler(t, MiddlewareConfig{ClientID: "abc123", AllowedOrigins: []string{"http://localhost:8080"}}, clock)
	rec, _ = do(h2, http.MethodOptions, map[string]string{"Origin": "http://localhost:8080", "Access-Control-Request-Method": "GET"})
	if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "http://localhost:8080" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	rec, _ = do(h2, http.MethodOptions, map[string]string{"Origin": origin, "Access-Control-Request-Method": "GET"})
	if rec.Code != 403 {
		t.Fatalf("%d", rec.Code)
	}
}

func TestMiddlewareConfigErrors(t *testing.T) {
	if _, err := NewMiddleware(MiddlewareConfig{}); err == nil {
		t.Fatal("nil verifier accepted")
	}
	v := newTestVerifier(t, VerifierConfig{})
	if _, err := NewMiddleware(MiddlewareConfig{Verifier: v, ViewerRate: -1}); err == nil {
		t.Fatal("negative rate accepted")
	}
}

func TestLimiterSetBounded(t *testing.T) {
	s := newLimiterSet(rate.Limit(1), 1, 3)
	now := testNow
	for i := range 10 {
		if _, wait := s.reserve(fmt.Sprint("k", i), now); wait != 0 {
			t.Fatalf("fresh key limited")
		}
		if s.len() > 3 {
			t.Fatalf("len %d > max", s.len())
		}
	}
	// The most recent key is still tracked (and limited); the oldest were evicted.
	if _, wait := s.reserve("k9", now); wait == 0 {
		t.Fatal("recent key forgotten")
	}
	// Idle buckets (full again) are dropped before busy ones.
	s2 := newLimiterSet(rate.Limit(1), 1, 100)
	s2.reserve("a", now)
	s2.reserve("b", now)
	s2.reserve("c", now.Add(2*time.Second)) // a and b have refilled: evicted
	if s2.len() != 1 {
		t.Fatalf("idle buckets kept: %d", s2.len())
	}
}
