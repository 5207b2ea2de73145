package broker

import (
	"context"
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
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/callback" || ck.Secure {
		t.Fatalf("state cookie %+v (state %q)", ck, state)
	}
	// The cookie is the signed state: it names the state sent to Twitch,
	// and a changed byte breaks its signature.
	payload, ok := e.b.signer.open(statePurpose, ck.Value)
	if !ok || !strings.Contains(string(payload), `"s":"`+state+`"`) {
		t.Fatalf("the state cookie does not carry the state %q: %q %v", state, payload, ok)
	}
	for i := range ck.Value {
		if ck.Value[i] == '.' {
			continue
		}
		flipped := ck.Value[:i] + string(ck.Value[i]^1) + ck.Value[i+1:]
		if _, ok := e.b.signer.open(statePurpose, flipped); ok {
			t.Fatalf("a cookie changed at byte %d still opens", i)
		}
	}
	if _, ok := e.b.signer.open(csrfPurpose, ck.Value); ok {
		t.Fatal("the state cookie opens as another purpose's token")
	}
}

// TestSignInNeedsNoServerMemory: 20,000 started sign-ins leave nothing in
// the broker's memory (the state lives in the signed cookie), and a sign-in
// started on one broker finishes on another sharing the store, as replicas
// behind a load balancer do.
func TestSignInNeedsNoServerMemory(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	for range 20000 {
		r := httptest.NewRequest(http.MethodGet, e.srv.URL+"/authorize", nil)
		w := httptest.NewRecorder()
		e.b.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusFound {
			t.Fatalf("GET /authorize: %d", w.Code)
		}
	}
	if n := len(e.b.spent.seen); n != 0 {
		t.Fatalf("%d states remembered before any callback", n)
	}
	// A second broker (another replica) on the same store and app.
	srv2 := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv2.Close)
	b2, err := New(context.Background(), Config{Twitch: &twitchauth.Config{ClientID: e.client.ID, ClientSecret: e.client.Secret,
		Endpoints: twitchauth.Endpoints{IDURL: e.sb.IDURL(), APIURL: e.sb.APIURL()}}, Store: e.store, PublicURL: e.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	srv2.Config.Handler = b2.Handler()
	srv2.Start()
	authURL := e.startLogin(c, "/authorize")
	cb, err := e.sb.Authorize(authURL, sandboxUser(t, e.sb, 1).Login)
	if err != nil {
		t.Fatal(err)
	}
	// The callback lands on the other replica (same public URL: only the
	// listener differs).
	cb2 := strings.Replace(cb.String(), e.srv.URL, srv2.URL, 1)
	req, _ := http.NewRequest(http.MethodGet, cb2, nil)
	for _, ck := range c.Jar.Cookies(mustURL(t, e.srv.URL+"/callback")) {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if text := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(text, "Connected as") {
		t.Fatalf("callback on the other replica: %d %s", resp.StatusCode, text)
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

// TestIntentNeedsTheOperator: a visitor's /authorize?intent= leads to a
// refusal page; the operator's sign-in page posts the intent with the CSRF
// token, and the state then binds the intent at the callback.
func TestIntentNeedsTheOperator(t *testing.T) {
	e := newEnv(t)
	u := sandboxUser(t, e.sb, 2)

	visitor := e.browser()
	resp, err := visitor.Get(e.srv.URL + "/authorize?intent=chat")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?intent=chat" {
		t.Fatalf("GET /authorize?intent=chat: %d %s, want 303 to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = visitor.Get(e.srv.URL + "/signin?intent=chat")
	if text := body(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(text, "Only the operator assigns intents") ||
		!strings.Contains(text, `href="/signin"`) {
		t.Fatalf("a visitor's /signin?intent=chat: %d %s", resp.StatusCode, text)
	}
	for _, bad := range []string{"a%20b", "", "..%2F", strings.Repeat("x", 65)} {
		resp, _ = visitor.Get(e.srv.URL + "/signin?intent=" + bad)
		if text := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, "Not a valid intent name") {
			t.Errorf("/signin?intent=%s: %d, want 400 naming the bad intent", bad, resp.StatusCode)
		}
	}
	resp, _ = visitor.PostForm(e.srv.URL+"/authorize", url.Values{"intent": {"chat"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a visitor's POST /authorize with an intent: %d", resp.StatusCode)
	}
	resp.Body.Close()

	op := e.operatorBrowser()
	resp, _ = op.PostForm(e.srv.URL+"/authorize", url.Values{"intent": {"chat"}})
	if text := body(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(text, "Form refused") {
		t.Fatalf("the operator's POST /authorize without the CSRF token: %d %s", resp.StatusCode, text)
	}
	resp, _ = op.PostForm(e.srv.URL+"/authorize", url.Values{"intent": {"chat"}, "csrf": {e.csrf(op)}})
	resp.Body.Close()
	authURL := mustURL(t, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || authURL.Query().Get("force_verify") != "true" {
		t.Fatalf("the operator's intent sign-in: %d %s, want a redirect to Twitch with force_verify", resp.StatusCode, authURL)
	}
	cb, err := e.sb.Authorize(authURL.String(), u.Login)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = op.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?done=bound" {
		t.Fatalf("callback: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := e.b.Provider().Intents()["chat"]; got != u.ID {
		t.Fatalf("intent chat -> %q, want %q", got, u.ID)
	}
}
