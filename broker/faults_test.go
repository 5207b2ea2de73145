package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

// A proxied Helix request has a deadline: an upstream that never answers
// gets the caller a 504 after HelixTimeout, not a request held until the
// caller gives up.
func TestHelixProxyDeadline(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	}))
	t.Cleanup(upstream.Close)
	e := newEnv(t, func(c *Config) {
		c.Twitch.Endpoints.APIURL = upstream.URL + "/helix"
		c.HelixTimeout = 500 * time.Millisecond
	})
	req, _ := http.NewRequest("GET", e.srv.URL+"/helix/users", nil)
	req.Header.Set("Authorization", "Bearer "+e.keys[PermHelix])
	client := &http.Client{Timeout: 5 * time.Second} // a patient caller
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("the proxy held the request: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), `"upstream_timeout"`) {
		t.Fatalf("hanging upstream: %d %s, want 504 upstream_timeout", resp.StatusCode, body)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("504 after %v, want about the 500ms deadline", el)
	}
}

// One 429 from Helix with a reset in the year 9999 does not poison the
// subject behind the proxy: the next requests reach Helix and succeed.
func TestHelixProxyHostile429(t *testing.T) {
	var calls atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		w.Header().Set("Ratelimit-Limit", "800")
		if n == 1 {
			w.Header().Set("Ratelimit-Remaining", "0")
			w.Header().Set("Ratelimit-Reset", "253402300799")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":"Too Many Requests","status":429,"message":"Request limit exceeded"}`))
			return
		}
		w.Header().Set("Ratelimit-Remaining", "799")
		w.Header().Set("Ratelimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
		w.Write([]byte(`{"data":[]}`))
	}))
	t.Cleanup(upstream.Close)
	e := newEnv(t, func(c *Config) {
		c.Twitch.Endpoints.APIURL = upstream.URL + "/helix"
		c.HelixTimeout = 3 * time.Second
	})
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 3 {
		req, _ := http.NewRequest("GET", e.srv.URL+"/helix/users", nil)
		req.Header.Set("Authorization", "Bearer "+e.keys[PermHelix])
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d after the hostile 429: %d %s", i, resp.StatusCode, body)
		}
	}
}

// flakyStore refuses writes while failing is set, and plays one unreadable
// record (badKey) until it is deleted.
type flakyStore struct {
	store.Store
	failing atomic.Bool
	badKey  string
	badGone atomic.Bool
}

func (f *flakyStore) Save(ctx context.Context, rec store.Record, expect int64) (store.Record, error) {
	if f.failing.Load() {
		return store.Record{}, errors.New("disk full (test)")
	}
	return f.Store.Save(ctx, rec, expect)
}

func (f *flakyStore) List(ctx context.Context) ([]store.Record, error) {
	recs, err := f.Store.List(ctx)
	if err != nil || f.badKey == "" || f.badGone.Load() {
		return recs, err
	}
	return recs, &store.UnreadableError{Records: []store.UnreadableRecord{{Key: f.badKey, Err: f.badErr()}}}
}

func (f *flakyStore) Load(ctx context.Context, key string) (store.Record, error) {
	if key == f.badKey && !f.badGone.Load() {
		return store.Record{}, f.badErr()
	}
	return f.Store.Load(ctx, key)
}

func (f *flakyStore) Delete(ctx context.Context, key string) error {
	if key == f.badKey {
		f.badGone.Store(true)
	}
	return f.Store.Delete(ctx, key)
}

func (f *flakyStore) badErr() error {
	return fmt.Errorf("%w: access_token of %q failed authentication", store.ErrCorrupt, f.badKey)
}

// readyz returns /readyz's status and decoded body.
func (e *env) readyz() (int, map[string]any) {
	resp, body := e.do("GET", "/readyz", "")
	return resp.StatusCode, decode[map[string]any](e.t, body)
}

func (e *env) metric(name string) string {
	_, body := e.do("GET", "/metrics", "")
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return "(absent)"
}

func (e *env) homePage() string { return e.page("/") }

// A renewal the store refuses makes the broker say so — /readyz
// "degraded: 1 grant not persisted", a gauge, the accounts page — while it
// keeps serving; once the store accepts writes the background save clears
// it.
func TestDegradedWhenARenewalIsNotPersisted(t *testing.T) {
	st := &flakyStore{Store: store.NewMemory()}
	e := newEnv(t, func(c *Config) { c.Store = st })
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close()
	if code, body := e.readyz(); code != 200 || body["status"] != "ready" {
		t.Fatalf("/readyz before the fault: %d %v", code, body)
	}
	if v := e.metric("twitchauth_grants_unpersisted"); v != "0" {
		t.Fatalf("twitchauth_grants_unpersisted = %s before the fault", v)
	}

	st.failing.Store(true)
	resp, body := e.do("POST", "/v1/token/user/"+u.ID+"/refresh", e.keys[PermTokenRefresh])
	if resp.StatusCode != 200 {
		t.Fatalf("refresh with a failing store: %d %s; want the new token", resp.StatusCode, body)
	}
	code, ready := e.readyz()
	problems := fmt.Sprint(ready["problems"])
	if code != 200 || ready["status"] != "degraded" || !strings.Contains(problems, "degraded: 1 grant not persisted") ||
		!strings.Contains(problems, "user:"+u.ID) {
		t.Fatalf("/readyz with an unsaved renewal: %d %v", code, ready)
	}
	if v := e.metric("twitchauth_grants_unpersisted"); v != "1" {
		t.Fatalf("twitchauth_grants_unpersisted = %s, want 1", v)
	}
	if page := e.homePage(); !strings.Contains(page, "1 grant not persisted") {
		t.Fatalf("the accounts page does not show the unsaved grant:\n%s", page)
	}

	st.failing.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, body := e.readyz(); code == 200 && body["status"] == "ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still degraded 10 s after the store recovered: %v", ready)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v := e.metric("twitchauth_grants_unpersisted"); v != "0" {
		t.Fatalf("twitchauth_grants_unpersisted = %s after recovery", v)
	}
}

// An unreadable record is reported — log, /readyz, gauge, accounts page —
// while the other grants work; once removed it is no longer reported.
func TestDegradedWhenARecordIsUnreadable(t *testing.T) {
	var e *env
	st := &flakyStore{Store: store.NewMemory()}
	e = newEnv(t, func(c *Config) {
		st.badKey = store.GrantKey(c.Twitch.ClientID, store.UserKey("999999"))
		c.Store = st
	})
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close()
	if resp, body := e.do("GET", "/v1/token/user/"+u.ID, e.keys[PermTokenUser]); resp.StatusCode != 200 {
		t.Fatalf("a good grant beside the bad record: %d %s", resp.StatusCode, body)
	}
	code, ready := e.readyz()
	problems := fmt.Sprint(ready["problems"])
	if code != 200 || ready["status"] != "degraded" || !strings.Contains(problems, "1 stored record cannot be read") ||
		!strings.Contains(problems, st.badKey) || !strings.Contains(problems, "twitchauth serve store remove") {
		t.Fatalf("/readyz with an unreadable record: %d %v", code, ready)
	}
	if v := e.metric("twitchauth_store_unreadable_records"); v != "1" {
		t.Fatalf("twitchauth_store_unreadable_records = %s, want 1", v)
	}
	if page := e.homePage(); !strings.Contains(page, "cannot be read") || !strings.Contains(page, "user:999999") {
		t.Fatalf("the accounts page does not show the unreadable record")
	}
	if err := st.Delete(t.Context(), st.badKey); err != nil {
		t.Fatal(err)
	}
	if code, body := e.readyz(); code != 200 || body["status"] != "ready" {
		t.Fatalf("/readyz after the removal: %d %v", code, body)
	}
	if v := e.metric("twitchauth_store_unreadable_records"); v != "0" {
		t.Fatalf("twitchauth_store_unreadable_records = %s after the removal", v)
	}
}

// Broker.Run validates every held token when it starts and then every
// ValidationInterval (Twitch requires hourly; shortened here).
func TestBrokerRunValidates(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ValidationInterval = 100 * time.Millisecond })
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close()
	e.sb.ResetCounters()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.b.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for e.sb.Requests("validate") < 3 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("%d validations in 10 s with a 100ms interval: the validation loop does not run", e.sb.Requests("validate"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if v := e.metric(`twitchauth_validations_total{result="valid"}`); v == "0" || v == "(absent)" {
		t.Fatalf("twitchauth_validations_total{result=\"valid\"} = %s", v)
	}
}
