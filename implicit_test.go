package twitchauth_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
)

func TestImplicitFlow(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	state := twitchauth.NewState()
	u := authorize(t, s, cfg, "twitchdev", state,
		twitchauth.WithResponseType(twitchauth.ResponseToken), twitchauth.WithScopes("channel:manage:polls", "channel:read:polls"))
	if u.RawQuery != "" {
		t.Fatalf("implicit redirect has a query: %s", u.Redacted())
	}
	tok, gotState, err := twitchauth.ParseImplicitFragment("#" + u.EscapedFragment())
	checkToken(t, tok, err)
	if !twitchauth.CheckState(state, gotState) {
		t.Fatal("state not returned")
	}
	if tok.RefreshToken != "" || tok.TokenType != "bearer" || !slices.Equal(tok.Scopes, []string{"channel:manage:polls", "channel:read:polls"}) {
		t.Fatalf("token %v", tok)
	}
	if err := cfg.Identify(ctx(t), tok); err != nil {
		t.Fatal(err)
	}
	if tok.Login != "twitchdev" || tok.UserID != "141981764" || tok.ClientID != cfg.ClientID {
		t.Fatalf("identified %v", tok)
	}
	// The redirect carries no lifetime: /validate's fills it in.
	if left := time.Until(tok.Expiry); left <= 3*time.Hour || left > 4*time.Hour {
		t.Fatalf("identified expiry in %v, want the sandbox's 4 h", left)
	}
}

func TestParseImplicitFragment(t *testing.T) {
	// Twitch's documented example.
	tok, state, err := twitchauth.ParseImplicitFragment("access_token=73d0f8mkabpbmjp921asv2jaidwxn&scope=channel%3Amanage%3Apolls+channel%3Aread%3Apolls&state=c3ab8aa609ea11e793ae92361f002671&token_type=bearer")
	if err != nil || tok.AccessToken != "73d0f8mkabpbmjp921asv2jaidwxn" || state != "c3ab8aa609ea11e793ae92361f002671" ||
		!slices.Equal(tok.Scopes, []string{"channel:manage:polls", "channel:read:polls"}) || !tok.Expiry.IsZero() {
		t.Fatalf("%v %q %v", tok, state, err)
	}
	leaks.Secret(tok.AccessToken)
	tok, _, err = twitchauth.ParseImplicitFragment("#access_token=abcdefghij&expires_in=3600")
	if err != nil || tok.Expiry.IsZero() || tok.Scopes == nil {
		t.Fatalf("expires_in: %v %v", tok, err)
	}
	leaks.Secret(tok.AccessToken)

	_, state, err = twitchauth.ParseImplicitFragment("error=access_denied&error_description=The+user+denied+you+access&state=xyz")
	wantErr(t, err, twitchauth.ErrAccessDenied)
	if state != "xyz" {
		t.Fatalf("state %q", state)
	}
	_, _, err = twitchauth.ParseImplicitFragment("?error=redirect_mismatch&state=xyz")
	wantErr(t, err, twitchauth.ErrRedirectMismatch)
	_, _, err = twitchauth.ParseImplicitFragment("state=xyz&token_type=bearer")
	wantErr(t, err)
	_, _, err = twitchauth.ParseImplicitFragment("%zz")
	wantErr(t, err)
}

// implicitServer serves ImplicitPage and collects what it delivers.
type delivery struct {
	mu   sync.Mutex
	toks []*twitchauth.Token
	errs []error
}

func (d *delivery) done(tok *twitchauth.Token, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.toks = append(d.toks, tok)
	d.errs = append(d.errs, err)
}

func postFragment(t *testing.T, srvURL, fragment string, header http.Header) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srvURL+"/", strings.NewReader(url.Values{"fragment": {fragment}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	return resp.StatusCode, body
}

func TestImplicitPage(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	state := twitchauth.NewState()
	d := &delivery{}
	srv := httptest.NewServer(twitchauth.ImplicitPage(state, d.done))
	defer srv.Close()

	// GET serves the page whose script posts the fragment back.
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(page), "location.hash") || !strings.Contains(string(page), `method: "POST"`) ||
		!strings.Contains(csp, "script-src 'nonce-") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("page: %d %v\n%s", resp.StatusCode, resp.Header, page)
	}
	nonce := csp[strings.Index(csp, "'nonce-")+7:]
	nonce = nonce[:strings.Index(nonce, "'")]
	if !strings.Contains(string(page), `<script nonce="`+nonce+`">`) {
		t.Fatal("script nonce does not match the CSP")
	}

	u := authorize(t, s, cfg, "viewer", state, twitchauth.WithResponseType(twitchauth.ResponseToken))
	fragment := u.EscapedFragment()

	// A forged post (wrong state) is refused and not delivered.
	forged := strings.Replace(fragment, "state="+state, "state=forged", 1)
	if code, body := postFragment(t, srv.URL, forged, nil); code != http.StatusBadRequest || body["status"] != "state_mismatch" {
		t.Fatalf("forged post: %d %v", code, body)
	}
	// A cross-origin browser post is refused.
	if code, _ := postFragment(t, srv.URL, fragment, http.Header{"Sec-Fetch-Site": {"cross-site"}}); code != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", code)
	}
	// The real one is delivered once.
	if code, body := postFragment(t, srv.URL, fragment, http.Header{"Sec-Fetch-Site": {"same-origin"}}); code != 200 || body["status"] != "ok" {
		t.Fatalf("post: %d %v", code, body)
	}
	if code, _ := postFragment(t, srv.URL, fragment, nil); code != http.StatusConflict {
		t.Fatalf("second post: %d", code)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.toks) != 1 || d.errs[0] != nil {
		t.Fatalf("deliveries %v %v", d.toks, d.errs)
	}
	tok := checkToken(t, d.toks[0], nil)
	info, err := cfg.Validate(ctx(t), tok.AccessToken)
	if err != nil || info.Login != "viewer" {
		t.Fatalf("delivered token: %+v %v", info, err)
	}
}

func TestImplicitPageDenied(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	state := twitchauth.NewState()
	d := &delivery{}
	srv := httptest.NewServer(twitchauth.ImplicitPage(state, d.done))
	defer srv.Close()
	u, err := s.Deny(cfg.AuthorizeURL(state, twitchauth.WithResponseType(twitchauth.ResponseToken)))
	if err != nil {
		t.Fatal(err)
	}
	// Denials come in the query; the page posts location.search then.
	if code, body := postFragment(t, srv.URL, u.RawQuery, nil); code != 200 || body["status"] != "denied" {
		t.Fatalf("post: %d %v", code, body)
	}
	if len(d.errs) != 1 || !errors.Is(d.errs[0], twitchauth.ErrAccessDenied) || d.toks[0] != nil {
		t.Fatalf("deliveries %v %v", d.toks, d.errs)
	}
	resp, err := http.Post(srv.URL+"/", "text/plain", strings.NewReader(strings.Repeat("x", 100<<10)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("oversized/malformed post: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
}
