package twitchauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// fakeHelix serves h under /helix on 127.0.0.1 and returns a Config
// pointing at it.
func fakeHelix(t *testing.T, h http.HandlerFunc) *twitchauth.Config {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &twitchauth.Config{ClientID: "fakeclientid", Endpoints: twitchauth.Endpoints{APIURL: srv.URL + "/helix"}, Logger: testLogger}
}

// writeHelixJSON answers like Helix: JSON and the rate-limit headers of a
// bucket that is far from empty.
func writeHelixJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Ratelimit-Limit", "800")
	w.Header().Set("Ratelimit-Remaining", "700")
	w.Header().Set("Ratelimit-Reset", strconv.FormatInt(time.Now().Add(10*time.Second).Unix(), 10))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// invSource is a token source with Invalidate that hands out tok1 until
// invalidated, then tok2.
type invSource struct {
	mu          sync.Mutex
	cur         string
	next        string
	invalidated int
	fail        error
}

func (s *invSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &oauth2.Token{AccessToken: s.cur, TokenType: "bearer"}, nil
}

func (s *invSource) Invalidate(_ context.Context, bad string) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated++
	if s.fail != nil {
		return nil, s.fail
	}
	if s.cur == bad && s.next != "" {
		s.cur = s.next
	}
	return &oauth2.Token{AccessToken: s.cur, TokenType: "bearer"}, nil
}

// trGet sends a GET through c and returns the status and body.
func trGet(t *testing.T, c *http.Client, u string, hdr http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A helix library such as nicklaw5/helix sets its own Client-ID and
// "Authorization: Bearer " (empty or a static token); the Transport must
// replace both, and leave the caller's request as it was.
func TestTransportReplacesHeadersAndLeavesRequestUntouched(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		writeHelixJSON(w, 200, map[string]any{"data": []any{}})
	})
	tr := newTransport(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "goodtoken123"}))
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, cfg.APIBaseURL()+"/users?id=1", nil)
	req.Header.Set("Client-ID", "someone-else")
	req.Header.Set("Authorization", "Bearer ")
	req.Header["authorization"] = []string{"OAuth stale"} // a non-canonical spelling too
	req.Header.Set("User-Agent", "helix-go")
	before := req.Header.Clone()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(seen) != 1 {
		t.Fatalf("server saw %d requests", len(seen))
	}
	h := seen[0]
	if got := h.Values("Authorization"); len(got) != 1 || got[0] != "Bearer goodtoken123" {
		t.Errorf("Authorization sent = %q, want exactly [Bearer goodtoken123]", got)
	}
	if got := h.Values("Client-Id"); len(got) != 1 || got[0] != cfg.ClientID {
		t.Errorf("Client-Id sent = %q, want [%s]", got, cfg.ClientID)
	}
	if h.Get("User-Agent") != "helix-go" {
		t.Errorf("other headers must pass: User-Agent = %q", h.Get("User-Agent"))
	}
	if len(req.Header) != len(before) {
		t.Fatalf("caller's headers changed: %v, was %v", req.Header, before)
	}
	for k, v := range before {
		if strings.Join(req.Header[k], ",") != strings.Join(v, ",") {
			t.Fatalf("caller's header %s changed to %q (was %q)", k, req.Header[k], v)
		}
	}
	if req.URL.String() != cfg.APIBaseURL()+"/users?id=1" {
		t.Fatalf("caller's URL changed: %s", req.URL)
	}
}

// Requests to another host (nicklaw5/helix asks id.twitch.tv for tokens with
// the same client) pass through without our credentials.
func TestTransportOtherHostsPassThrough(t *testing.T) {
	var got http.Header
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer other.Close()
	cfg := &twitchauth.Config{ClientID: "cid", Endpoints: twitchauth.Endpoints{APIURL: "http://127.0.0.1:1/helix"}}
	tr := newTransport(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "secrettoken1"}))
	code, _ := trGet(t, &http.Client{Transport: tr}, other.URL+"/oauth2/token", http.Header{"X-Mine": {"1"}})
	if code != 200 || got.Get("Authorization") != "" || got.Get("Client-Id") != "" || got.Get("X-Mine") != "1" {
		t.Fatalf("other host got status %d headers %v; want no credentials added", code, got)
	}
	// Same host, outside the Helix path (the sandbox serves both).
	same := &twitchauth.Config{ClientID: "cid", Endpoints: twitchauth.Endpoints{APIURL: other.URL + "/helix"}}
	tr2 := newTransport(same, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "secrettoken1"}))
	for _, path := range []string{"/oauth2/token", "/helixfoo", "/"} {
		got = nil
		if code, _ := trGet(t, &http.Client{Transport: tr2}, other.URL+path, nil); code != 200 || got.Get("Authorization") != "" {
			t.Fatalf("%s on the API host got status %d headers %v; want no credentials", path, code, got)
		}
	}
	if code, _ := trGet(t, &http.Client{Transport: tr2}, other.URL+"/helix/users", nil); code != 200 || got.Get("Authorization") != "Bearer secrettoken1" {
		t.Fatalf("/helix/users got %v", got)
	}
	if s := tr.Stats(); s.Requests != 0 {
		t.Fatalf("pass-through counted as a Helix request: %+v", s)
	}
}

// 401 → one refresh → retry, against the sandbox: the user's access token
// expires under the Provider's feet; 16 concurrent calls cause one refresh.
func TestTransport401RefreshesOnceAndRetries(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", nil)
	tr := newTransport(cfg, p.TokenSource(provider.User(tok.UserID)))
	c := &http.Client{Transport: tr}
	if code, body := trGet(t, c, cfg.APIBaseURL()+"/users", nil); code != 200 || !strings.Contains(body, `"login":"twitchdev"`) {
		t.Fatalf("GET /users = %d %s", code, body)
	}
	s.ExpireAccessToken(tok.AccessToken)
	s.ResetCounters()
	var wg sync.WaitGroup
	codes := make([]int, 16)
	for i := range codes {
		wg.Go(func() { codes[i], _ = trGet(t, c, cfg.APIBaseURL()+"/users?id="+tok.UserID, nil) })
	}
	wg.Wait()
	for i, code := range codes {
		if code != 200 {
			t.Fatalf("call %d got %d after the token expired, want 200 after a refresh", i, code)
		}
	}
	if n := s.Requests("token:refresh_token"); n != 1 {
		t.Fatalf("%d refreshes for 16 concurrent 401s, want 1", n)
	}
	if st := tr.Stats(); st.Refreshes < 1 || st.Refreshes > 16 || st.Retries != st.Refreshes {
		t.Fatalf("stats %+v: want each 401 counted once as a refresh and a retry", st)
	}
	if n := s.Requests("helix:GET /users"); n > 32 {
		t.Fatalf("%d requests for 16 calls: at most one retry each", n)
	}
}

// A refresh that fails for good (the user disconnected the app) ends the
// call with an error matching ErrGrantDead or ErrGrantRevoked, after one try.
func TestTransport401DeadGrant(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	tok := provUser(t, s, p, cfg.ClientID, "twitchdev", nil)
	s.RevokeGrant(cfg.ClientID, tok.UserID)
	s.ResetCounters()
	c := &http.Client{Transport: newTransport(cfg, p.TokenSource(provider.User(tok.UserID)))}
	req, _ := http.NewRequestWithContext(ctx(t), "GET", cfg.APIBaseURL()+"/users", nil)
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want an error", resp.StatusCode)
	}
	if !errors.Is(err, provider.ErrGrantDead) && !errors.Is(err, provider.ErrGrantRevoked) {
		t.Fatalf("error %v does not say the grant is lost", err)
	}
	leaks.Text(err.Error())
	if n := s.Requests("helix:GET /users"); n != 1 {
		t.Fatalf("%d Helix requests, want 1 (no retry without a new token)", n)
	}
}

// A 401 naming a missing scope is not an expired token: no refresh.
func TestTransport401MissingScopeNoRefresh(t *testing.T) {
	for _, msg := range []string{"Missing scope: moderator:manage:banned_users", "Missing User OAUTH Token", "Client ID and OAuth token do not match"} {
		var n atomic.Int32
		cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			writeHelixJSON(w, 401, map[string]any{"error": "Unauthorized", "status": 401, "message": msg})
		})
		src := &invSource{cur: "tok1aaaa", next: "tok2bbbb"}
		code, body := trGet(t, &http.Client{Transport: newTransport(cfg, src)}, cfg.APIBaseURL()+"/moderation/bans", nil)
		if code != 401 || !strings.Contains(body, msg) || src.invalidated != 0 || n.Load() != 1 {
			t.Fatalf("%q: got %d %q after %d requests, %d invalidations; want the 401 with its body, no refresh", msg, code, body, n.Load(), src.invalidated)
		}
	}
}

// An invalid-token 401 from a fake server: the source is invalidated once
// and the retry carries the new token; a second 401 is returned as is.
func TestTransport401FakeServer(t *testing.T) {
	var auths []string
	var mu sync.Mutex
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		writeHelixJSON(w, 401, map[string]any{"error": "Unauthorized", "status": 401, "message": "Invalid OAuth token"})
	})
	src := &invSource{cur: "tok1aaaa", next: "tok2bbbb"}
	code, _ := trGet(t, &http.Client{Transport: newTransport(cfg, src)}, cfg.APIBaseURL()+"/users", nil)
	if code != 401 || src.invalidated != 1 || len(auths) != 2 || auths[0] != "Bearer tok1aaaa" || auths[1] != "Bearer tok2bbbb" {
		t.Fatalf("status %d, invalidations %d, Authorization sent %q; want one refresh and one retry with the new token", code, src.invalidated, auths)
	}
}

// 5xx: 503 is retried once whatever the method; other 5xx only for
// idempotent methods, at most twice.
func TestTransport5xxRetries(t *testing.T) {
	for _, tc := range []struct {
		method string
		status int
		want   int // requests the server sees
	}{
		{"GET", 500, 3}, {"PUT", 502, 3}, {"DELETE", 504, 3}, {"HEAD", 500, 3}, {"OPTIONS", 500, 3},
		{"POST", 500, 1}, {"PATCH", 502, 1},
		{"GET", 503, 2}, {"POST", 503, 2}, {"PATCH", 503, 2},
	} {
		t.Run(tc.method+strconv.Itoa(tc.status), func(t *testing.T) {
			var n atomic.Int32
			cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				writeHelixJSON(w, tc.status, map[string]any{"status": tc.status, "message": "boom"})
			})
			tr := newTransport(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), withRetryBackoff(time.Millisecond))
			req, _ := http.NewRequestWithContext(ctx(t), tc.method, cfg.APIBaseURL()+"/x", strings.NewReader("{}"))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || int(n.Load()) != tc.want {
				t.Fatalf("%s on %d: server saw %d requests, final status %d; want %d requests", tc.method, tc.status, n.Load(), resp.StatusCode, tc.want)
			}
			if st := tr.Stats(); st.Retries != int64(tc.want-1) || st.Requests != int64(tc.want) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// A failure that recovers: 503 then 200.
func TestTransport503OnceThenSuccess(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	p := newProvider(t, cfg)
	var faults atomic.Int32
	s.SetFault("helix:GET /users", twitchtest.FaultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		if faults.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}))
	tr := newTransport(cfg, p.TokenSource(provider.App()), withRetryBackoff(time.Millisecond))
	if code, body := trGet(t, &http.Client{Transport: tr}, cfg.APIBaseURL()+"/users?login=twitchdev", nil); code != 200 || !strings.Contains(body, "twitchdev") {
		t.Fatalf("got %d %s, want 200 after one 503", code, body)
	}
	if n := s.Requests("helix:GET /users"); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// Bodies are replayed on retry: from GetBody, from a buffer when the
// request has no GetBody, and never when the body is too large to buffer.
func TestTransportBodyReplay(t *testing.T) {
	const payload = `{"data":{"user_id":"9001","reason":"spam"}}`
	var mu sync.Mutex
	var bodies []string
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		first := len(bodies)%2 == 1
		mu.Unlock()
		if first {
			writeHelixJSON(w, 503, map[string]any{"status": 503, "message": "try again"})
			return
		}
		writeHelixJSON(w, 200, map[string]any{"data": []any{}})
	})
	tr := newTransport(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), withRetryBackoff(time.Millisecond), withMaxReplayBody(1024))
	send := func(body io.Reader) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx(t), "POST", cfg.APIBaseURL()+"/moderation/bans", body)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// With GetBody (strings.Reader).
	if code := send(strings.NewReader(payload)); code != 200 || len(bodies) != 2 || bodies[0] != payload || bodies[1] != payload {
		t.Fatalf("GetBody: status %d, bodies %q", code, bodies)
	}
	// Without GetBody: buffered.
	bodies = nil
	if code := send(io.MultiReader(strings.NewReader(payload))); code != 200 || len(bodies) != 2 || bodies[0] != payload || bodies[1] != payload {
		t.Fatalf("buffered: status %d, bodies %q", code, bodies)
	}
	// Too large to buffer: sent once, intact, and the 503 is returned.
	bodies = nil
	big := strings.Repeat("x", 4096)
	if code := send(io.MultiReader(strings.NewReader(big))); code != 503 || len(bodies) != 1 || bodies[0] != big {
		t.Fatalf("large body: status %d, %d bodies (first %d bytes)", code, len(bodies), len(bodies[0]))
	}
}

// The caller's body is closed, as http.RoundTripper requires, even when
// the request fails before it is sent.
func TestTransportClosesCallerBody(t *testing.T) {
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) { writeHelixJSON(w, 200, nil) })
	fail := oauth2.ReuseTokenSource(nil, trTokenSourceFunc(func() (*oauth2.Token, error) { return nil, errors.New("no token") }))
	for _, src := range []oauth2.TokenSource{oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}), fail} {
		b := &trCloseTracker{Reader: strings.NewReader("{}")}
		req, _ := http.NewRequestWithContext(ctx(t), "POST", cfg.APIBaseURL()+"/x", b)
		req.GetBody = nil
		resp, err := newTransport(cfg, src).RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		if !b.closed.Load() {
			t.Fatalf("caller's body not closed (err %v)", err)
		}
	}
}

type trTokenSourceFunc func() (*oauth2.Token, error)

func (f trTokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

type trCloseTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *trCloseTracker) Close() error { c.closed.Store(true); return nil }

// Discarded responses are closed: a retried 5xx leaves no body open.
func TestTransportClosesDiscardedBodies(t *testing.T) {
	var n atomic.Int32
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) < 3 {
			writeHelixJSON(w, 500, map[string]any{"status": 500})
			return
		}
		writeHelixJSON(w, 200, map[string]any{"data": []any{}})
	})
	var bodies []*trCloseTracker
	base := trRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			ct := &trCloseTracker{Reader: resp.Body}
			bodies = append(bodies, ct)
			resp.Body = ct
		}
		return resp, err
	})
	tr := newTransport(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}), withBase(base), withRetryBackoff(time.Millisecond))
	if code, _ := trGet(t, &http.Client{Transport: tr}, cfg.APIBaseURL()+"/x", nil); code != 200 {
		t.Fatalf("status %d", code)
	}
	if len(bodies) != 3 {
		t.Fatalf("%d responses", len(bodies))
	}
	for i, b := range bodies {
		if !b.closed.Load() {
			t.Fatalf("response %d body left open", i)
		}
	}
}

type trRoundTripFunc func(*http.Request) (*http.Response, error)

func (f trRoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// 429 → wait until Ratelimit-Reset → retry, against the sandbox's small
// bucket, with pacing off so that the bucket really runs dry.
func TestTransport429WaitsForReset(t *testing.T) {
	s := newSandbox(t, twitchtest.WithHelixRateLimit(2, time.Second))
	cfg := confidential(s)
	p := newProvider(t, cfg)
	tr := newTransport(cfg, p.TokenSource(provider.App()), withoutPacing())
	c := &http.Client{Transport: tr}
	for i := range 4 {
		if code, body := trGet(t, c, cfg.APIBaseURL()+"/users?login=twitchdev", nil); code != 200 {
			t.Fatalf("call %d: %d %s", i, code, body)
		}
	}
	st := tr.Stats()
	if s.Requests("helix:429") == 0 || st.RateLimited != int64(s.Requests("helix:429")) {
		t.Fatalf("sandbox saw %d 429s, transport counted %+v; want some, all counted", s.Requests("helix:429"), st)
	}
	if st.Waits == 0 || st.WaitTime <= 0 || st.Retries < st.RateLimited {
		t.Fatalf("stats %+v: every 429 should wait and retry", st)
	}
}

// A 429 whose bucket still has points refuses a quota (EventSub's "too many
// subscriptions"): it comes back at once, with no wait and no retry, paced
// or not.
func TestTransportQuota429NotRetried(t *testing.T) {
	var n atomic.Int32
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Ratelimit-Limit", "800")
		w.Header().Set("Ratelimit-Remaining", "799")
		w.Header().Set("Ratelimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
		writeHelixJSON(w, 429, map[string]any{"error": "Too Many Requests", "status": 429, "message": "too many subscriptions"})
	})
	for _, paced := range []bool{false, true} {
		n.Store(0)
		opts := []trOption{}
		if !paced {
			opts = append(opts, withoutPacing())
		}
		tr := newTransport(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}), opts...)
		if code, _ := trGet(t, &http.Client{Transport: tr}, cfg.APIBaseURL()+"/eventsub/subscriptions", nil); code != 429 {
			t.Fatalf("paced %v: status %d, want 429", paced, code)
		}
		if st := tr.Stats(); n.Load() != 1 || st.Retries != 0 || st.Waits != 0 || st.RateLimited != 0 {
			t.Fatalf("paced %v: %d requests, stats %+v: a quota 429 must come back at once", paced, n.Load(), st)
		}
		// The bucket is not marked empty: the next request goes out.
		trGet(t, &http.Client{Transport: tr}, cfg.APIBaseURL()+"/eventsub/subscriptions", nil)
		if n.Load() != 2 || tr.Stats().Waits != 0 {
			t.Fatalf("paced %v: the next request waited or was not sent (%d requests)", paced, n.Load())
		}
	}
}

// A reset beyond the context's deadline: the 429 comes back at once
// rather than after the deadline.
func TestTransport429PastDeadline(t *testing.T) {
	s := newSandbox(t, twitchtest.WithHelixRateLimit(1, time.Minute))
	cfg := confidential(s)
	p := newProvider(t, cfg)
	tr := newTransport(cfg, p.TokenSource(provider.App()), withoutPacing())
	c := &http.Client{Transport: tr}
	if code, _ := trGet(t, c, cfg.APIBaseURL()+"/users?login=twitchdev", nil); code != 200 {
		t.Fatal(code)
	}
	cctx, cancel := context.WithTimeout(ctx(t), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, "GET", cfg.APIBaseURL()+"/users?login=twitchdev", nil)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 {
		t.Fatalf("status %d, want the 429", resp.StatusCode)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("took %v: the 429 should come back without waiting", el)
	}
	// The same through the pacer: the bucket is known to be empty, so
	// the call fails fast with ErrRateLimited and sends nothing.
	paced := newTransport(cfg, p.TokenSource(provider.App()))
	h := &http.Client{Transport: paced}
	_, _ = trGet(t, h, cfg.APIBaseURL()+"/users?login=twitchdev", nil) // learns the bucket
	before := s.Requests("helix:GET /users")
	cctx2, cancel2 := context.WithTimeout(ctx(t), 2*time.Second)
	defer cancel2()
	req, _ = http.NewRequestWithContext(cctx2, "GET", cfg.APIBaseURL()+"/users?login=twitchdev", nil)
	_, err = h.Do(req)
	if !errors.Is(err, twitchauth.ErrRateLimited) {
		t.Fatalf("paced call past the deadline: %v, want ErrRateLimited", err)
	}
	if n := s.Requests("helix:GET /users") - before; n != 0 {
		t.Fatalf("%d requests sent into an empty bucket", n)
	}
}

// Cancelling the context while waiting for a reset ends the call at once.
func TestTransportCancelWhileWaitingForReset(t *testing.T) {
	var n atomic.Int32
	reset := time.Now().Add(time.Hour).Unix()
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Ratelimit-Limit", "800")
		w.Header().Set("Ratelimit-Remaining", "0")
		w.Header().Set("Ratelimit-Reset", strconv.FormatInt(reset, 10))
		w.WriteHeader(429)
	})
	tr := newTransport(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"}), withoutPacing())
	cctx, cancel := context.WithCancel(context.Background()) // no deadline: it would wait an hour
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, "GET", cfg.APIBaseURL()+"/users", nil)
	go func() {
		for tr.Stats().RateLimited == 0 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want context.Canceled", resp.StatusCode)
	}
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second || n.Load() != 1 {
		t.Fatalf("err %v after %v and %d requests", err, time.Since(start), n.Load())
	}
}

// No more than three retries per request, whatever the mix of causes.
func TestTransportRetryBudget(t *testing.T) {
	var n atomic.Int32
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			writeHelixJSON(w, 401, map[string]any{"status": 401, "message": "Invalid OAuth token"})
		case 2:
			writeHelixJSON(w, 503, map[string]any{"status": 503})
		default:
			writeHelixJSON(w, 500, map[string]any{"status": 500})
		}
	})
	src := &invSource{cur: "tok1aaaa", next: "tok2bbbb"}
	tr := newTransport(cfg, src, withRetryBackoff(time.Millisecond))
	code, _ := trGet(t, &http.Client{Transport: tr}, cfg.APIBaseURL()+"/users", nil)
	if code != 500 || n.Load() != 4 {
		t.Fatalf("status %d after %d requests; want 500 after 1 try + 3 retries", code, n.Load())
	}
}

// The Extension scheme: a viewer's Helix JWT is sent as
// "Authorization: Extension <jwt>" and the sandbox accepts it on GET /users.
func TestTransportExtensionScheme(t *testing.T) {
	s := newSandbox(t)
	ext := s.ExtensionClient()
	dev, _ := s.User("twitchdev")
	jwt, err := s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "U" + dev.ID, UserID: dev.ID})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &twitchauth.Config{ClientID: ext.ID, Endpoints: twitchauth.Endpoints{IDURL: s.IDURL(), APIURL: s.APIURL()}}
	var calls atomic.Int32
	src := func(context.Context) (string, error) { calls.Add(1); return jwt, nil }
	var sent string
	spy := trRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = r.Header.Get("Authorization")
		return http.DefaultTransport.RoundTrip(r)
	})
	pacer := &twitchauth.Pacer{}
	tr := twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, ExtensionJWT: src, Base: spy, Pacer: pacer})
	code, body := trGet(t, &http.Client{Transport: tr}, cfg.APIBaseURL()+"/users", http.Header{"Authorization": {"Bearer "}})
	if code != 200 || !strings.Contains(body, `"login":"twitchdev"`) {
		t.Fatalf("GET /users as a viewer = %d %s", code, body)
	}
	if sent != "Extension "+jwt {
		t.Fatalf("Authorization sent %q, want the Extension scheme", sent)
	}
	key := ext.ID + "/extension:U" + dev.ID
	if rl, ok := pacer.Bucket(key); !ok || rl.Limit != twitchtest.DefaultExtensionViewerRatePoints {
		t.Fatalf("viewer bucket %q = %+v %v, want the 30-point viewer bucket", key, rl, ok)
	}
	// A refused JWT with no newer one: the 401 is returned after one try.
	bad := twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, ExtensionJWT: func(context.Context) (string, error) { return "a.b.c", nil }})
	if code, _ := trGet(t, &http.Client{Transport: bad}, cfg.APIBaseURL()+"/users", nil); code != 401 {
		t.Fatalf("bad JWT: %d", code)
	}
	if st := bad.Stats(); st.Requests != 1 {
		t.Fatalf("bad JWT: %+v, want one request (no new JWT to retry with)", st)
	}
}

// A token source error is returned, unwrapped by http.Client's *url.Error.
func TestTransportSourceError(t *testing.T) {
	cfg := fakeHelix(t, func(w http.ResponseWriter, r *http.Request) { t.Error("request sent without a token") })
	boom := errors.New("store down")
	tr := newTransport(cfg, trTokenSourceFunc(func() (*oauth2.Token, error) { return nil, boom }))
	req, _ := http.NewRequestWithContext(ctx(t), "GET", cfg.APIBaseURL()+"/users", bytes.NewReader(nil))
	_, err := (&http.Client{Transport: tr}).Do(req)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}
