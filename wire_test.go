package twitchauth_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
)

// recorded is one request seen by the recording transport.
type recorded struct {
	method, url, contentType, authorization string
	form                                    url.Values
}

// recorder is an http.RoundTripper that records requests before sending them.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

func (rec *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	form, _ := url.ParseQuery(string(body))
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.String(), r.Header.Get("Content-Type"), r.Header.Get("Authorization"), form})
	rec.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestWire checks what goes on the wire for every verb: secrets and tokens
// in POST bodies or headers only, the exact form Content-Type, and the
// documented parameter names.
func TestWire(t *testing.T) {
	clk := newFakeClock()
	s := newSandbox(t, withClock(clk))
	rec := &recorder{}
	cfg := confidential(s)
	cfg.HTTPClient = &http.Client{Transport: rec, Timeout: 10 * time.Second}
	cfg.Scopes = []string{"chat:read"}

	app := mustToken(t)(cfg.AppToken(ctx(t)))
	user := userLogin(t, s, cfg, "twitchdev", twitchauth.WithScopes("chat:read", "openid"))
	refreshed := mustToken(t)(cfg.Refresh(ctx(t), user.RefreshToken))
	if _, err := cfg.UserInfo(ctx(t), refreshed.AccessToken); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Revoke(ctx(t), app.AccessToken); err != nil {
		t.Fatal(err)
	}
	da, err := cfg.StartDevice(ctx(t), "chat:read", "chat:edit")
	if err != nil {
		t.Fatal(err)
	}
	leaks.Secret(da.DeviceCode)
	if err := s.ApproveDevice(da.UserCode, "viewer"); err != nil {
		t.Fatal(err)
	}
	twitchauth.SetSleep(cfg, (&pollScript{step: func(_ int, d time.Duration) { clk.Advance(d) }}).sleep)
	mustToken(t)(cfg.PollDevice(ctx(t), da))

	secrets := []string{cfg.ClientSecret, app.AccessToken, user.AccessToken, user.RefreshToken, refreshed.AccessToken, refreshed.RefreshToken, da.DeviceCode}
	seen := map[string]int{}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, r := range rec.reqs {
		for _, sec := range secrets {
			if strings.Contains(r.url, sec) {
				t.Errorf("%s %s carries a secret in its URL", r.method, strings.ReplaceAll(r.url, sec, "<SECRET>"))
			}
		}
		u, _ := url.Parse(r.url)
		if u.RawQuery != "" {
			t.Errorf("%s %s has a query", r.method, u.Path)
		}
		if r.method == http.MethodPost && r.contentType != "application/x-www-form-urlencoded" {
			t.Errorf("POST %s Content-Type %q, want exactly application/x-www-form-urlencoded", u.Path, r.contentType)
		}
		key := r.method + " " + strings.TrimPrefix(u.Path, "/oauth2")
		if g := r.form.Get("grant_type"); g != "" {
			key += " " + g
		}
		seen[key]++
		switch key {
		case "POST /token client_credentials":
			wantForm(t, key, r.form, "client_id", "client_secret", "grant_type")
		case "POST /token authorization_code":
			wantForm(t, key, r.form, "client_id", "client_secret", "code", "grant_type", "redirect_uri")
		case "POST /token refresh_token":
			wantForm(t, key, r.form, "client_id", "client_secret", "grant_type", "refresh_token")
		case "POST /token urn:ietf:params:oauth:grant-type:device_code":
			wantForm(t, key, r.form, "client_id", "device_code", "grant_type", "scopes")
		case "POST /device":
			wantForm(t, key, r.form, "client_id", "scopes")
			if r.form.Get("scopes") != "chat:read chat:edit" {
				t.Errorf("device scopes %q", r.form.Get("scopes"))
			}
		case "POST /revoke":
			wantForm(t, key, r.form, "client_id", "token")
		case "GET /validate":
			if !strings.HasPrefix(r.authorization, "OAuth ") {
				t.Errorf("validate Authorization scheme: %q", strings.SplitN(r.authorization, " ", 2)[0])
			}
		case "GET /userinfo":
			if !strings.HasPrefix(r.authorization, "Bearer ") {
				t.Errorf("userinfo Authorization scheme: %q", strings.SplitN(r.authorization, " ", 2)[0])
			}
		default:
			t.Errorf("unexpected request %s", key)
		}
	}
	for _, k := range []string{"POST /token client_credentials", "POST /token authorization_code", "POST /token refresh_token",
		"POST /token urn:ietf:params:oauth:grant-type:device_code", "POST /device", "POST /revoke", "GET /validate", "GET /userinfo"} {
		if seen[k] == 0 {
			t.Errorf("no %s request seen", k)
		}
	}
}

func wantForm(t *testing.T, key string, form url.Values, keys ...string) {
	t.Helper()
	if len(form) != len(keys) {
		t.Errorf("%s: form has %d fields, want %v", key, len(form), keys)
	}
	for _, k := range keys {
		if form.Get(k) == "" && k != "scopes" {
			t.Errorf("%s: missing %s", key, k)
		}
	}
}

// twitchCLIMock emulates the twitch-cli mock-api identity endpoints as far
// as the client depends on them: /auth/token reads a form body only when the
// Content-Type is exactly application/x-www-form-urlencoded, answers scope
// [""] for app tokens, and /auth/validate omits login/user_id for app tokens.
func twitchCLIMock(t *testing.T, seen *[]string) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/token", func(w http.ResponseWriter, r *http.Request) {
		*seen = append(*seen, "token Content-Type="+r.Header.Get("Content-Type"))
		var v url.Values
		if r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
			b, _ := io.ReadAll(r.Body)
			v, _ = url.ParseQuery(string(b))
		} else {
			v = r.URL.Query()
		}
		if v.Get("client_id") != "mockclient" || v.Get("client_secret") != "mocksecret-xyz1" || v.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusBadRequest) // the mock's answer: no body
			return
		}
		fmt.Fprint(w, `{"access_token":"mockaccesstoken123","refresh_token":"","expires_in":86399,"scope":[""],"token_type":"bearer"}`)
	})
	mux.HandleFunc("GET /auth/validate", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "OAuth mockaccesstoken123" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"client_id":"mockclient","expires_in":86390,"scopes":[]}`+"\n")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestTwitchCLIMockEndpoints(t *testing.T) {
	var seen []string
	srv := twitchCLIMock(t, &seen)
	leaks.Secret("mocksecret-xyz1", "mockaccesstoken123")
	cfg := &twitchauth.Config{ClientID: "mockclient", ClientSecret: "mocksecret-xyz1",
		Endpoints: twitchauth.Endpoints{IDURL: srv.URL + "/auth", APIURL: srv.URL + "/mock"}, Logger: testLogger}
	if cfg.APIBaseURL() != srv.URL+"/mock" {
		t.Fatalf("API base %s", cfg.APIBaseURL())
	}
	tok := mustToken(t)(cfg.AppToken(ctx(t)))
	if tok.AccessToken != "mockaccesstoken123" || tok.RefreshToken != "" || len(tok.Scopes) != 0 {
		t.Fatalf("%v (scopes %q)", tok, tok.Scopes)
	}
	if len(seen) != 1 || seen[0] != "token Content-Type=application/x-www-form-urlencoded" {
		t.Fatalf("requests %q", seen)
	}
	info, err := cfg.Validate(ctx(t), tok.AccessToken)
	if err != nil || !info.IsApp() || info.ClientID != "mockclient" {
		t.Fatalf("%+v %v", info, err)
	}
	_, err = cfg.Validate(ctx(t), "wrongtoken000")
	wantErr(t, err, twitchauth.ErrInvalidToken) // 401 without a body
	cfg.ClientSecret = "wrong-secret-000"
	_, err = cfg.AppToken(ctx(t))
	ae := wantAPIError(t, err, "token", http.StatusBadRequest)
	if ae.Message != "Bad Request" {
		t.Fatalf("message %q", ae.Message)
	}
}

func TestDefaultHTTPClient(t *testing.T) {
	// The default client has a timeout and does not follow redirects.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	cfg := &twitchauth.Config{ClientID: "a", ClientSecret: "sec-0000000", Endpoints: twitchauth.Endpoints{IDURL: srv.URL}}
	_, err := cfg.AppToken(ctx(t))
	wantAPIError(t, err, "token", http.StatusFound)
	if twitchauth.DefaultTimeout <= 0 || twitchauth.DefaultTimeout > time.Minute {
		t.Fatalf("DefaultTimeout %v", twitchauth.DefaultTimeout)
	}
	// A context deadline stops a hanging server.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client leaving
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer hang.Close()
	cfg.Endpoints.IDURL = hang.URL
	c, cancel := context.WithTimeout(ctx(t), 100*time.Millisecond)
	defer cancel()
	_, err = cfg.AppToken(c)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want DeadlineExceeded", err)
	}
	leaks.Text(err.Error())
}
