package broker

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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
