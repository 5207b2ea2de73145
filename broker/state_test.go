package broker

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestLoginConnectsTheAccount(t *testing.T) {
	e := newEnv(t)
	u := sandboxUser(t, e.sb, 0)
	c := e.browser()
	resp := e.connect(c, u.Login)
	text := body(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(text, "Connected as "+u.Login) {
		t.Fatalf("callback: %d %s", resp.StatusCode, text)
	}
	accts := e.b.Provider().Users()
	if len(accts) != 1 || accts[0].UserID != u.ID {
		t.Fatalf("users after login: %+v", accts)
	}
	// The state cookie is cleared by the callback.
	for _, ck := range resp.Cookies() {
		if ck.Name == stateCookie && ck.MaxAge >= 0 {
			t.Errorf("state cookie not cleared: %+v", ck)
		}
	}
}

func TestAuthorizeSetsBoundStateCookie(t *testing.T) {
	e := newEnv(t)
	resp, err := e.browser().Get(e.srv.URL + "/authorize")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := mustURL(t, resp.Header.Get("Location"))
	state := loc.Query().Get("state")
	if state == "" || loc.Query().Get("redirect_uri") != e.srv.URL+"/callback" {
		t.Fatalf("authorize redirect %s", loc)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == stateCookie {
			ck = c
		}
	}
	if ck == nil || ck.Value != state || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/callback" || ck.Secure {
		t.Fatalf("state cookie %+v (state %q)", ck, state)
	}
}

func TestStateReplayIsRefused(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	authURL := e.startLogin(c, "/authorize")
	cb, err := e.sb.Authorize(authURL, sandboxUser(t, e.sb, 0).Login)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the cookie for the replay: only the server-side single use stops it.
	ck := c.Jar.Cookies(mustURL(t, e.srv.URL+"/callback"))
	first, err := c.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	if first.StatusCode != http.StatusOK {
		t.Fatalf("first callback: %d %s", first.StatusCode, body(t, first))
	}
	first.Body.Close()
	c.Jar.SetCookies(mustURL(t, e.srv.URL+"/callback"), ck)
	replay, err := c.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	if text := body(t, replay); replay.StatusCode != http.StatusBadRequest || !strings.Contains(text, "expired") {
		t.Fatalf("replayed callback: %d %s", replay.StatusCode, text)
	}
}

func TestStateFromAnotherBrowserIsRefused(t *testing.T) {
	e := newEnv(t)
	victim, attacker := e.browser(), e.browser()
	authURL := e.startLogin(attacker, "/authorize")
	cb, err := e.sb.Authorize(authURL, sandboxUser(t, e.sb, 1).Login)
	if err != nil {
		t.Fatal(err)
	}
	// The victim has a sign-in of their own in progress (a cookie with another state).
	e.startLogin(victim, "/authorize")
	resp, err := victim.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	if text := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, "another browser") {
		t.Fatalf("cross-browser callback: %d %s", resp.StatusCode, text)
	}
	if n := len(e.b.Provider().Users()); n != 0 {
		t.Fatalf("%d users connected by a forged callback", n)
	}
	// Without any cookie at all it is refused too.
	resp2, err := e.browser().Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	if resp2.StatusCode != http.StatusBadRequest {
		t.Fatalf("cookie-less callback: %d", resp2.StatusCode)
	}
	resp2.Body.Close()
}

func TestExpiredStateIsRefused(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, func(c *Config) { c.Now = clock })
	c := e.browser()
	authURL := e.startLogin(c, "/authorize")
	cb, err := e.sb.Authorize(authURL, sandboxUser(t, e.sb, 0).Login)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(DefaultStateTTL + time.Second)
	mu.Unlock()
	resp, err := c.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	if text := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, "expired") {
		t.Fatalf("expired state: %d %s", resp.StatusCode, text)
	}
}

func TestDeniedConsentPage(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	authURL := e.startLogin(c, "/authorize")
	cb, err := e.sb.Deny(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	if text := body(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(text, "Access not granted") {
		t.Fatalf("denied: %d %s", resp.StatusCode, text)
	}
}

func TestRedirectMismatchPage(t *testing.T) {
	e := newEnv(t)
	q := url.Values{"error": {"redirect_mismatch"}, "error_description": {"Parameter redirect_uri does not match registered URI"}}
	resp, err := e.browser().Get(e.srv.URL + "/callback?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if text := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, "Redirect URI not registered") ||
		!strings.Contains(text, e.srv.URL+"/callback") {
		t.Fatalf("mismatch: %d %s", resp.StatusCode, text)
	}
}

func TestIntentFromSignin(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	authURL := e.startLogin(c, "/authorize?intent=chat")
	u := sandboxUser(t, e.sb, 2)
	cb, err := e.sb.Authorize(authURL, u.Login)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := e.b.Provider().Intents()["chat"]; got != u.ID {
		t.Fatalf("intent chat -> %q, want %q", got, u.ID)
	}
}
