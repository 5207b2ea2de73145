package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/extension"
)

var (
	secretB64 = base64.StdEncoding.EncodeToString([]byte("an extension secret of 32 bytes!"))
	now       = time.Unix(1_700_000_000, 0)
)

const origin = "https://abc123.ext-twitch.tv"

func newTestEBS(t *testing.T) (*httptest.Server, *extension.Signer) {
	t.Helper()
	cfg, err := fromEnv(func(k string) string {
		return map[string]string{"TWITCH_EXTENSION_SECRET": secretB64, "EXTENSION_CLIENT_ID": "abc123"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Now = func() time.Time { return now }
	cfg.Logger = slog.New(slog.DiscardHandler)
	h, err := newHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // 127.0.0.1
	t.Cleanup(srv.Close)
	// Twitch's side: the same secret mints the front end's tokens.
	s, err := extension.NewSigner(extension.NewKeyring(cfg.Secrets...), extension.SignerConfig{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return srv, s
}

func viewer(t *testing.T, s *extension.Signer, opaque string, exp time.Time) string {
	t.Helper()
	tok, err := s.Sign(extension.Claims{Exp: exp.Unix(), OpaqueUserID: opaque, ChannelID: "141981764", Role: extension.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func call(t *testing.T, srv *httptest.Server, method, path string, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(body) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("bad JSON %q", body)
		}
	}
	return resp, m
}

func TestEBS(t *testing.T) {
	srv, s := newTestEBS(t)

	t.Run("front end", func(t *testing.T) {
		resp, err := srv.Client().Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "Twitch.ext.onAuthorized") || !strings.Contains(string(body), `const ebs = "";`) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("valid token", func(t *testing.T) {
		resp, m := call(t, srv, "GET", "/api/hello", map[string]string{"Authorization": "Bearer " + viewer(t, s, "U1", now.Add(time.Minute)), "Origin": origin})
		if resp.StatusCode != 200 || m["channel_id"] != "141981764" || m["opaque_user_id"] != "U1" || !strings.HasPrefix(m["message"].(string), "hello") {
			t.Fatalf("%d %v", resp.StatusCode, m)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Fatalf("CORS header %q", resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})

	t.Run("x-extension-jwt", func(t *testing.T) {
		resp, _ := call(t, srv, "GET", "/api/hello", map[string]string{"x-extension-jwt": viewer(t, s, "U2", now.Add(time.Minute))})
		if resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})

	t.Run("401 without token", func(t *testing.T) {
		resp, m := call(t, srv, "GET", "/api/hello", nil)
		if resp.StatusCode != 401 || !strings.HasPrefix(m["message"].(string), "missing") {
			t.Fatalf("%d %v", resp.StatusCode, m)
		}
	})

	t.Run("401 expired", func(t *testing.T) {
		resp, m := call(t, srv, "GET", "/api/hello", map[string]string{"Authorization": "Bearer " + viewer(t, s, "U3", now.Add(-time.Minute))})
		if resp.StatusCode != 401 || !strings.HasPrefix(m["message"].(string), "expired") {
			t.Fatalf("%d %v", resp.StatusCode, m)
		}
	})

	t.Run("401 backend role", func(t *testing.T) {
		tok, _ := s.Sign(extension.Claims{UserID: "1", Role: extension.RoleExternal})
		resp, m := call(t, srv, "GET", "/api/hello", map[string]string{"Authorization": "Bearer " + tok})
		if resp.StatusCode != 401 || !strings.HasPrefix(m["message"].(string), "invalid") {
			t.Fatalf("%d %v", resp.StatusCode, m)
		}
	})

	t.Run("429 past the limit", func(t *testing.T) {
		tok := viewer(t, s, "U-busy", now.Add(time.Minute))
		for i := range 5 { // the viewer's burst
			if resp, m := call(t, srv, "GET", "/api/hello", map[string]string{"Authorization": "Bearer " + tok}); resp.StatusCode != 200 {
				t.Fatalf("request %d: %d %v", i, resp.StatusCode, m)
			}
		}
		resp, m := call(t, srv, "GET", "/api/hello", map[string]string{"Authorization": "Bearer " + tok})
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || m["status"] != float64(429) {
			t.Fatalf("%d %v %v", resp.StatusCode, resp.Header, m)
		}
		// Another viewer is not affected.
		if resp, _ := call(t, srv, "GET", "/api/hello", map[string]string{"Authorization": "Bearer " + viewer(t, s, "U-calm", now.Add(time.Minute))}); resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})

	t.Run("CORS preflight", func(t *testing.T) {
		resp, _ := call(t, srv, "OPTIONS", "/api/hello", map[string]string{"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "x-extension-jwt") {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
		resp, _ = call(t, srv, "OPTIONS", "/api/hello", map[string]string{"Origin": "https://other.ext-twitch.tv", "Access-Control-Request-Method": "GET"})
		if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
	})
}

func TestFromEnv(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"no secret":    {"EXTENSION_CLIENT_ID": "abc"},
		"bad secret":   {"TWITCH_EXTENSION_SECRET": "%%%", "EXTENSION_CLIENT_ID": "abc"},
		"no client id": {"TWITCH_EXTENSION_SECRET": secretB64},
	} {
		if _, err := fromEnv(func(k string) string { return env[k] }); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), secretB64) || strings.Contains(err.Error(), "%%%") {
			t.Errorf("%s: secret in error: %v", name, err)
		}
	}
	cfg, err := fromEnv(func(k string) string {
		return map[string]string{"TWITCH_EXTENSION_SECRET": secretB64 + ",", "EBS_ALLOWED_ORIGINS": "http://localhost:8080, https://x.ext-twitch.tv"}[k]
	})
	if err != nil || len(cfg.Secrets) != 1 || len(cfg.AllowedOrigins) != 2 || cfg.Addr != "127.0.0.1:8081" {
		t.Fatalf("%+v %v", cfg, err)
	}
}
