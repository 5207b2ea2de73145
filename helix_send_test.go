package twitchauth_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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
	h := twitchauth.NewHelix(cfg, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "send-test-token"}), twitchauth.WithoutScopeCheck())
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
