package broker

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/scopes"
)

// TestSigninFor: /signin?for= lists exactly the scopes the endpoints need
// (scopes.For) merged with ?scope=, and its Connect link and /authorize ask
// Twitch for exactly those; an unknown endpoint, an app-only endpoint or an
// unknown scope is a 400; an intent with for= still needs the operator.
func TestSigninFor(t *testing.T) {
	e := newEnv(t)
	forChat, forPolls := "POST /chat/messages", "GET /polls"
	want, err := scopes.For(forChat, forPolls)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, "user:read:email")
	q := url.Values{"for": {forChat, forPolls}, "scope": {"user:read:email"}}

	page := e.pageAs(e.browser(), "/signin?"+q.Encode())
	for _, s := range want {
		if !strings.Contains(page, "<code>"+s+"</code>") {
			t.Fatalf("the sign-in page does not list %s:\n%s", s, page)
		}
	}
	if strings.Contains(page, "<code>chat:read</code>") {
		t.Fatalf("the sign-in page lists the configured scopes besides the for= ones:\n%s", page)
	}
	if !strings.Contains(page, `href="/authorize?for=`) {
		t.Fatalf("the Connect link does not carry for=:\n%s", page)
	}

	loc := e.startLogin(e.browser(), "/authorize?"+q.Encode())
	got := strings.Fields(mustURL(t, loc).Query().Get("scope"))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("/authorize asked Twitch for %v, want exactly %v", got, want)
	}
	// Without for= and scope=, the configured scopes.
	loc = e.startLogin(e.browser(), "/authorize")
	if got := mustURL(t, loc).Query().Get("scope"); got != "chat:read user:read:email" {
		t.Fatalf("/authorize without for=: scope %q", got)
	}

	for name, bad := range map[string]url.Values{
		"unknown endpoint": {"for": {"GET /nope"}},
		"app-only":         {"for": {"GET /eventsub/conduits"}},
		"unknown scope":    {"scope": {"not:a:scope"}},
	} {
		for _, path := range []string{"/signin?", "/authorize?"} {
			resp, _ := e.do("GET", path+bad.Encode(), "")
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s %s: %d, want 400", name, path, resp.StatusCode)
			}
		}
	}
	// An intent is still the operator's: for= does not open it.
	resp, err := e.browser().PostForm(e.srv.URL+"/authorize", url.Values{"intent": {"bot"}, "for": {forChat}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("intent sign-in with for= by a visitor: %d, want 403", resp.StatusCode)
	}
	op := e.operatorBrowser()
	if page := e.pageAs(op, "/signin?intent=bot&for="+url.QueryEscape(forChat)); !strings.Contains(page, `name="for" value="POST /chat/messages"`) {
		t.Fatalf("the operator's intent form does not carry for=:\n%s", page)
	}
}

// TestTokenAPIFor: ?for= on the token API answers the token when the grant
// meets every endpoint's requirement, and 403 missing_scopes naming each
// endpoint it cannot call and the scopes to add otherwise (the any-of rule
// of Get Polls included); an unknown or app-only endpoint is 400 JSON.
func TestTokenAPIFor(t *testing.T) {
	e := newEnv(t)
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close() // chat:read user:read:email
	key := e.keys[PermTokenUser]
	path := func(fors ...string) string {
		return "/v1/token/user/" + u.ID + "?" + url.Values{"for": fors}.Encode()
	}
	if code, body := e.get(path("GET /users"), key); code != 200 || body["access_token"] == "" {
		t.Fatalf("for=GET /users: %d %v", code, body)
	}
	code, body := e.get(path("GET /users", "POST /chat/messages", "GET /polls"), key)
	if code != http.StatusForbidden || body["error"] != "missing_scopes" {
		t.Fatalf("for= lacking scopes: %d %v; want 403 missing_scopes", code, body)
	}
	if body["access_token"] != nil {
		t.Fatal("a refusal carries the token")
	}
	eps := fmt.Sprint(body["endpoints"])
	if !strings.Contains(eps, "POST /chat/messages") || !strings.Contains(eps, "GET /polls") || strings.Contains(eps, "GET /users") ||
		!strings.Contains(fmt.Sprint(body["missing_scopes"]), "user:write:chat") || !strings.Contains(fmt.Sprint(body["missing_scopes"]), "channel:read:polls") ||
		!strings.Contains(fmt.Sprint(body["message"]), "/signin?for=") {
		t.Fatalf("the refusal does not name the endpoints and scopes: %v", body)
	}
	for name, p := range map[string]string{"unknown": path("GET /nope"), "app-only": path("GET /eventsub/conduits")} {
		if code, body := e.get(p, key); code != http.StatusBadRequest || body["error"] != "bad_for" {
			t.Fatalf("%s endpoint: %d %v; want 400 bad_for", name, code, body)
		}
	}

	// Connected again for exactly what Get Polls and Send Chat Message
	// need: the token is handed out.
	c := e.browser()
	authURL := e.startLogin(c, "/authorize?"+url.Values{"for": {"GET /polls", "POST /chat/messages"}}.Encode())
	cb, err := e.sb.Authorize(authURL, u.Login)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, body := e.get(path("POST /chat/messages", "GET /polls"), key); code != 200 {
		t.Fatalf("after connecting for them: %d %v", code, body)
	}
	// The intent route and the app route check too.
	if err := e.b.Provider().SetIntent(t.Context(), "bot", u.ID); err != nil {
		t.Fatal(err)
	}
	if code, body := e.get("/v1/token/intent/bot?for="+url.QueryEscape("POST /channels/commercial"), e.keys[PermTokenIntent]); code != http.StatusForbidden || body["error"] != "missing_scopes" {
		t.Fatalf("intent for=: %d %v", code, body)
	}
	if code, body := e.get("/v1/token/app?for="+url.QueryEscape("POST /channels/commercial"), e.keys[PermTokenApp]); code != http.StatusBadRequest {
		t.Fatalf("app token for a user-only endpoint: %d %v", code, body)
	}
	if code, body := e.get("/v1/token/app?for="+url.QueryEscape("GET /users"), e.keys[PermTokenApp]); code != 200 {
		t.Fatalf("app token for=GET /users: %d %v", code, body)
	}
}
