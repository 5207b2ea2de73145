package broker

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestOperatorPagesNeedAnAdminSession(t *testing.T) {
	e := newEnv(t)
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close()
	c := e.browser()

	// Visitors see the sign-in page, not the accounts.
	resp, err := c.Get(e.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	text := body(t, resp)
	if resp.StatusCode != 200 || strings.Contains(text, u.Login) || !strings.Contains(text, "Connect with Twitch") {
		t.Fatalf("visitor home: %d %s", resp.StatusCode, text)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	post := func(path string, form url.Values, origin string) *http.Response {
		req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("/accounts/"+u.ID+"/revoke", nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoke without a session: %d", resp.StatusCode)
	}
	if resp := post("/login", url.Values{"key": {e.keys[PermUsersRead]}}, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login with a non-admin key: %d", resp.StatusCode)
	}
	if resp := post("/login", url.Values{"key": {e.admin}}, "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site login post: %d", resp.StatusCode)
	}
	resp = post("/login", url.Values{"key": {e.admin}}, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin login: %d", resp.StatusCode)
	}
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Value == e.admin {
		t.Fatalf("session cookie %+v", sess)
	}
	resp, err = c.Get(e.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if text := body(t, resp); !strings.Contains(text, `id="account-`+u.ID+`"`) {
		t.Fatalf("operator home lacks the account: %s", text)
	}
	// Without the session's CSRF token, an action is refused.
	if resp := post("/accounts/"+u.ID+"/refresh", nil, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refresh without the CSRF token: %d", resp.StatusCode)
	}
	if resp := post("/accounts/"+u.ID+"/refresh", url.Values{"csrf": {"bm90LXRoZS10b2tlbg"}}, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refresh with a wrong CSRF token: %d", resp.StatusCode)
	}
	tok := url.Values{"csrf": {e.csrf(c)}}
	// A cross-site form cannot revoke, even with the session.
	if resp := post("/accounts/"+u.ID+"/revoke", tok, "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site revoke: %d", resp.StatusCode)
	}
	if resp := post("/accounts/"+u.ID+"/refresh", tok, ""); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?done=refreshed" {
		t.Fatalf("refresh: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := post("/accounts/"+u.ID+"/revoke", tok, ""); resp.Header.Get("Location") != "/?done=revoked" {
		t.Fatalf("revoke: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := len(e.b.Provider().Users()); n != 0 {
		t.Fatalf("%d users after revoke", n)
	}
	post("/logout", tok, "")
	resp, _ = c.Get(e.srv.URL + "/")
	if text := body(t, resp); strings.Contains(text, "Connected accounts") {
		t.Fatal("still an operator after logout")
	}
}

func TestLoopbackAliasRedirect(t *testing.T) {
	e := newEnv(t)
	alias := strings.Replace(e.srv.URL, "127.0.0.1", "localhost", 1)
	resp, err := e.browser().Get(alias + "/authorize")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != e.srv.URL+"/authorize" {
		t.Fatalf("alias: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
