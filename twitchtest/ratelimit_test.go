package twitchtest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/twitchtest"
)

const limited = `{"error":"Too Many Requests","status":429,"message":"Request limit exceeded"}`

func TestHelixBucketExhaustAndRefill(t *testing.T) {
	clk := newClock()
	s := twitchtest.NewServer(t, twitchtest.WithClock(clk.Now), twitchtest.WithHelixRateLimit(3, 3*time.Second))
	cid := s.DefaultClient().ID
	alice := "Bearer " + userToken(t, s, "broadcaster")
	bob := "Bearer " + userToken(t, s, "viewer")
	app := "Bearer " + appToken(t, s)
	now := clk.Now().Unix()

	for i, wantRemaining := range []int{2, 1, 0} {
		r := helixDo(t, s, "GET", "/users", alice, cid, "")
		r.want(t, 200, "")
		limit, remaining, reset := r.rate(t)
		// Empty bucket refills in 3 s: reset is when it is full again.
		if limit != 3 || remaining != wantRemaining || reset != now+int64(i+1) {
			t.Fatalf("request %d: limit %d remaining %d reset %d (now %d)", i, limit, remaining, reset, now)
		}
	}
	r := helixDo(t, s, "GET", "/users", alice, cid, "")
	r.want(t, 429, limited)
	if limit, remaining, reset := r.rate(t); limit != 3 || remaining != 0 || reset != now+3 {
		t.Fatalf("429 headers: %d %d %d", limit, remaining, reset)
	}
	if s.Requests("helix:429") != 1 || s.Requests("helix:GET /users") != 4 {
		t.Fatalf("counters 429=%d users=%d", s.Requests("helix:429"), s.Requests("helix:GET /users"))
	}

	// Other buckets are untouched: another user, the app.
	helixDo(t, s, "GET", "/users", bob, cid, "").want(t, 200, "")
	helixDo(t, s, "GET", "/users?login=viewer", app, cid, "").want(t, 200, "")

	// Points refill continuously: one second gives one point back.
	clk.Add(999 * time.Millisecond)
	helixDo(t, s, "GET", "/users", alice, cid, "").want(t, 429, limited)
	clk.Add(2 * time.Millisecond)
	r = helixDo(t, s, "GET", "/users", alice, cid, "")
	r.want(t, 200, "")
	if _, remaining, _ := r.rate(t); remaining != 0 {
		t.Fatalf("remaining after refill %d", remaining)
	}
	clk.Add(10 * time.Second) // full, never above the size
	if _, remaining, _ := helixDo(t, s, "GET", "/users", alice, cid, "").rate(t); remaining != 2 {
		t.Fatalf("remaining after full refill %d", remaining)
	}

	s.ResetRateLimits()
	if _, remaining, _ := helixDo(t, s, "GET", "/users", alice, cid, "").rate(t); remaining != 2 {
		t.Fatalf("remaining after reset %d", remaining)
	}
}

func TestHelixDefaultLimitAndFailedAuthTakesNothing(t *testing.T) {
	s := twitchtest.NewServer(t)
	cid := s.DefaultClient().ID
	app := "Bearer " + appToken(t, s)
	helixDo(t, s, "GET", "/users?login=x", "Bearer bad", cid, "").want(t, 401, "")
	r := helixDo(t, s, "GET", "/users?login=x", app, cid, "")
	if limit, remaining, _ := r.rate(t); limit != 800 || remaining != 799 {
		t.Fatalf("%d %d", limit, remaining)
	}
}

func TestExtensionViewerBucket(t *testing.T) {
	clk := newClock()
	s := twitchtest.NewServer(t, twitchtest.WithClock(clk.Now), twitchtest.WithExtensionViewerRateLimit(2, time.Minute))
	ext := s.ExtensionClient().ID
	v1, _ := s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "Aviewer1"})
	v2, _ := s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "Aviewer2"})
	v1b, _ := s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "Aviewer1", TTL: 2 * time.Hour})
	helixDo(t, s, "GET", "/streams", "Extension "+v1, ext, "").want(t, 200, "")
	helixDo(t, s, "GET", "/streams", "Extension "+v1, ext, "").want(t, 200, "")
	// The bucket is the viewer's, whatever token they present, across endpoints.
	r := helixDo(t, s, "GET", "/channels?broadcaster_id=1", "Extension "+v1b, ext, "")
	r.want(t, 429, limited)
	if limit, remaining, reset := r.rate(t); limit != 2 || remaining != 0 || reset != clk.Now().Unix()+60 {
		t.Fatalf("%d %d %d", limit, remaining, reset)
	}
	helixDo(t, s, "GET", "/streams", "Extension "+v2, ext, "").want(t, 200, "")
	clk.Add(30 * time.Second)
	helixDo(t, s, "GET", "/streams", "Extension "+v1, ext, "").want(t, 200, "")
}

// TestExhaustRateLimitHoldsUntilReset: an exhausted bucket answers 429
// until the reset it reports, without the continuous refill letting a
// request through early, and is full at the reset; other buckets are
// untouched.
func TestExhaustRateLimitHoldsUntilReset(t *testing.T) {
	clk := newClock()
	clk.Add(400 * time.Millisecond) // not on a whole second
	s := twitchtest.NewServer(t, twitchtest.WithClock(clk.Now), twitchtest.WithHelixRateLimit(3, 3*time.Second),
		twitchtest.WithExtensionViewerRateLimit(2, 10*time.Second))
	cid := s.DefaultClient().ID
	broadcaster, _ := s.User("broadcaster")
	alice := "Bearer " + userToken(t, s, "broadcaster")
	bob := "Bearer " + userToken(t, s, "viewer")
	start := clk.Now()

	st, err := s.ExhaustRateLimit(twitchtest.HelixBucket{ClientID: cid, UserID: broadcaster.ID})
	wantReset := start.Add(3 * time.Second).Truncate(time.Second)
	if err != nil || st.Limit != 3 || st.Remaining != 0 || !st.Reset.Equal(wantReset) {
		t.Fatalf("ExhaustRateLimit: %+v %v, want reset %v", st, err, wantReset)
	}
	for _, after := range []time.Duration{0, 1500 * time.Millisecond, 1099 * time.Millisecond} {
		clk.Add(after) // continuous refill would have given points back by now
		r := helixDo(t, s, "GET", "/users", alice, cid, "")
		r.want(t, 429, limited)
		if limit, remaining, reset := r.rate(t); limit != 3 || remaining != 0 || reset != wantReset.Unix() {
			t.Fatalf("held bucket at +%v: %d %d %d, want reset %d", clk.Now().Sub(start), limit, remaining, reset, wantReset.Unix())
		}
	}
	helixDo(t, s, "GET", "/users", bob, cid, "").want(t, 200, "")
	clk.Add(wantReset.Sub(clk.Now())) // exactly the reset: full again
	r := helixDo(t, s, "GET", "/users", alice, cid, "")
	r.want(t, 200, "")
	if _, remaining, _ := r.rate(t); remaining != 2 {
		t.Fatalf("after the reset: remaining %d, want 2", remaining)
	}

	// The viewer bucket of a Helix JWT, over HTTP.
	ext := s.ExtensionClient().ID
	jwt, _ := s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "Aviewer1"})
	code, body := postJSON(t, s.URL()+"/_sandbox/ratelimit/exhaust", `{"client_id":"`+ext+`","opaque_user_id":"Aviewer1"}`)
	wantV := clk.Now().Add(10 * time.Second).Truncate(time.Second)
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"reset":%d`, wantV.Unix())) || !strings.Contains(body, `"limit":2,"remaining":0`) {
		t.Fatalf("exhaust over HTTP: %d %s", code, body)
	}
	helixDo(t, s, "GET", "/streams", "Extension "+jwt, ext, "").want(t, 429, limited)

	for _, bad := range []struct {
		body string
		code int
	}{
		{`{"client_id":"nope"}`, 404},
		{`{"client_id":"` + cid + `","user_id":"999"}`, 404},
		{`{"client_id":"` + cid + `","user_id":"` + broadcaster.ID + `","opaque_user_id":"A1"}`, 400},
		{`{"user_id":"1"}`, 400},
		{`{"client":"x"}`, 400},
		{`not json`, 400},
	} {
		if code, body := postJSON(t, s.URL()+"/_sandbox/ratelimit/exhaust", bad.body); code != bad.code || !strings.Contains(body, `"message"`) {
			t.Errorf("%s: %d %s, want %d", bad.body, code, body, bad.code)
		}
	}
}

func postJSON(t *testing.T, u, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
