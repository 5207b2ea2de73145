package twitchauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth"
)

// Helix.Send, the raw call: any status is an answer (with its body in
// memory), the headers are set unless given, an answer over 16 MiB is
// refused without naming the query; ParseHelixError reads Helix's error
// body.
func TestHelixSend(t *testing.T) {
	var seen http.Header
	mux := http.NewServeMux()
	mux.HandleFunc("/helix/users", func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.Write([]byte(`{"data":[]}`))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"Bad Request","status":400,"message":"Must provide an ID, Login or OAuth Token"}`))
	})
	mux.HandleFunc("/helix/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte(" "), 16<<20+1))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cfg := &twitchauth.Config{ClientID: "sendclient", Endpoints: twitchauth.Endpoints{APIURL: srv.URL + "/helix"}}
	h := twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "send-test-token"}), NoScopeCheck: true}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.APIBaseURL()+"/users?login=", nil)
	resp, err := h.Send(req)
	if err != nil {
		t.Fatalf("a 400 is an answer, not an error: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 400 || !strings.Contains(string(body), "Must provide") {
		t.Fatalf("answer: %d %q %v", resp.StatusCode, body, err)
	}
	if seen.Get("Accept") != "application/json" || !strings.HasPrefix(seen.Get("User-Agent"), "twitchauth") ||
		seen.Get("Client-Id") != "sendclient" || seen.Get("Authorization") != "Bearer send-test-token" {
		t.Errorf("request headers: %v", seen)
	}
	var he *twitchauth.HelixError
	if err := twitchauth.ParseHelixError(resp, body); !errors.As(err, &he) ||
		*he != (twitchauth.HelixError{Method: "GET", Path: "/helix/users", Status: 400, Reason: "Bad Request", Message: "Must provide an ID, Login or OAuth Token"}) {
		t.Errorf("ParseHelixError = %#v", err)
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, cfg.APIBaseURL()+"/users", strings.NewReader(`{}`))
	req.Header.Set("User-Agent", "my-tool")
	resp, err = h.Send(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	if seen.Get("Content-Type") != "application/json" || seen.Get("User-Agent") != "my-tool" {
		t.Errorf("POST headers: %v", seen)
	}
	if err := twitchauth.ParseHelixError(resp, nil); err != nil {
		t.Errorf("ParseHelixError(200) = %v", err)
	}

	// A 429 carries the bucket's reset.
	req, _ = http.NewRequest(http.MethodGet, cfg.APIBaseURL()+"/limited?q=1", nil)
	limited := &http.Response{StatusCode: 429, Request: req, Header: http.Header{
		"Ratelimit-Limit": {"800"}, "Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"4102444800"}}}
	if err := twitchauth.ParseHelixError(limited, []byte(`{"error":"Too Many Requests","status":429,"message":""}`)); !errors.As(err, &he) ||
		he.Reset.Unix() != 4102444800 || he.Path != "/helix/limited" || !errors.Is(err, twitchauth.ErrRateLimited) {
		t.Errorf("ParseHelixError(429) = %#v", err)
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, cfg.APIBaseURL()+"/big?cursor=private-cursor", nil)
	resp, err = h.Send(req)
	if err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") || strings.Contains(err.Error(), "private-cursor") {
		t.Fatalf("an answer over 16 MiB: %v, %v; want an error naming the path, not the query", resp, err)
	}
}

// BenchmarkHelixGet: one GET of a 100-item list (about 20 KiB) decoded into
// a struct, side by side:
//
//   - helix: Helix.Get (Transport: headers, pacing bookkeeping; Send's
//     bounded read; ParseHelixError; json.Unmarshal);
//   - plain: the anchor, net/http with the two headers set by hand,
//     io.ReadAll and json.Unmarshal, what a hand-written client does.
func BenchmarkHelixGet(b *testing.B) {
	var list bytes.Buffer
	list.WriteString(`{"data":[`)
	for i := range 100 {
		if i > 0 {
			list.WriteByte(',')
		}
		fmt.Fprintf(&list, `{"id":"%d","login":"user%d","display_name":"User%d","type":"","broadcaster_type":"partner","description":"%s","created_at":"2016-12-14T20:32:28Z"}`,
			100000+i, i, i, strings.Repeat("x", 60))
	}
	list.WriteString(`],"pagination":{}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Ratelimit-Limit", "800")
		w.Header().Set("Ratelimit-Remaining", "799")
		w.Header().Set("Ratelimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
		w.Write(list.Bytes())
	}))
	defer srv.Close()
	cfg := &twitchauth.Config{ClientID: "benchclient", Endpoints: twitchauth.Endpoints{APIURL: srv.URL + "/helix"}}
	type users struct {
		Data []hxUser `json:"data"`
	}
	b.Run("helix", func(b *testing.B) {
		h := twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "bench-token"}), NoScopeCheck: true}))
		b.ReportAllocs()
		for b.Loop() {
			var out users
			if err := h.Get(context.Background(), "users", nil, &out); err != nil || len(out.Data) != 100 {
				b.Fatal(err, len(out.Data))
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		c := &http.Client{}
		u := cfg.APIBaseURL() + "/users"
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
			req.Header.Set("Authorization", "Bearer bench-token")
			req.Header.Set("Client-Id", "benchclient")
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			var out users
			if err != nil || resp.StatusCode != 200 || json.Unmarshal(data, &out) != nil || len(out.Data) != 100 {
				b.Fatal(err, resp.StatusCode)
			}
		}
	})
}
