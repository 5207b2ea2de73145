package broker

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
)

// TestRoutesRefuseMissingAndUnprivilegedKeys checks every internal route:
// no key or a wrong key gives 401 JSON, a key without the route's
// permission 403 JSON, and a key with it (or admin) gets past the guard.
func TestRoutesRefuseMissingAndUnprivilegedKeys(t *testing.T) {
	e := newEnv(t)
	routes := []struct {
		method, path string
		perm         Perm
	}{
		{"GET", "/v1/token/app", PermTokenApp},
		{"GET", "/v1/token/user/12345", PermTokenUser},
		{"GET", "/v1/token/user/somelogin", PermTokenUser},
		{"GET", "/v1/token/intent/chat", PermTokenIntent},
		{"POST", "/v1/token/user/12345/refresh", PermTokenRefresh},
		{"POST", "/v1/token/intent/chat/refresh", PermTokenRefresh},
		{"GET", "/v1/users", PermUsersRead},
		{"DELETE", "/v1/users/12345", PermUsersDelete},
		{"PUT", "/v1/admin/client-secret", PermAdmin},
		{"GET", "/helix/users", PermHelix},
		{"POST", "/helix/chat/messages", PermHelix},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			for _, key := range []string{"", "tak_wrong", "Basic " + e.admin} {
				resp, body := e.do(rt.method, rt.path, key)
				if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("key %q: %d %s, want 401 JSON", key, resp.StatusCode, body)
				}
				if got := decode[errorResponse](t, body); got.Error != "unauthorized" {
					t.Errorf("error code %q", got.Error)
				}
			}
			for _, p := range AllPerms {
				if p == rt.perm || p == PermAdmin {
					continue
				}
				resp, body := e.do(rt.method, rt.path, e.keys[p])
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("key with %s: %d %s, want 403", p, resp.StatusCode, body)
				}
				if got := decode[errorResponse](t, body); got.Error != "forbidden" || !strings.Contains(got.Message, string(rt.perm)) {
					t.Errorf("403 body %s", body)
				}
			}
			for _, k := range []string{e.keys[rt.perm], e.admin} {
				resp, body := e.do(rt.method, rt.path, k)
				if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
					t.Errorf("permitted key: %d %s", resp.StatusCode, body)
				}
			}
		})
	}
}

func TestTokenAPI(t *testing.T) {
	e := newEnv(t)
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close()
	if err := e.b.Provider().SetIntent(t.Context(), "chat", u.ID); err != nil {
		t.Fatal(err)
	}

	resp, body := e.do("GET", "/v1/token/app", e.keys[PermTokenApp])
	app := decode[tokenResponse](t, body)
	if resp.StatusCode != 200 || app.AccessToken == "" || app.TokenType != "bearer" || app.UserID != "" ||
		app.ExpiresIn <= 0 || app.ExpiresAt.Before(time.Now()) {
		t.Fatalf("app token: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "refresh") {
		t.Fatalf("the API gave out a refresh token: %s", body)
	}

	for _, who := range []string{u.ID, u.Login, strings.ToUpper(u.Login)} {
		resp, body = e.do("GET", "/v1/token/user/"+who, e.keys[PermTokenUser])
		ut := decode[tokenResponse](t, body)
		if resp.StatusCode != 200 || ut.UserID != u.ID || ut.Login != u.Login || !slices.Contains(ut.Scopes, "chat:read") {
			t.Fatalf("user token for %s: %d %s", who, resp.StatusCode, body)
		}
		if strings.Contains(string(body), "refresh_token") {
			t.Fatalf("refresh token leaked: %s", body)
		}
	}

	resp, body = e.do("GET", "/v1/token/user/"+u.ID+"?scopes=chat:read,user:read:email", e.keys[PermTokenUser])
	if resp.StatusCode != 200 {
		t.Fatalf("held scopes: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/v1/token/user/"+u.ID+"?scopes=chat:read,moderator:manage:banned_users,chat:edit", e.keys[PermTokenUser])
	miss := decode[errorResponse](t, body)
	if resp.StatusCode != 403 || miss.Error != "missing_scopes" ||
		!slices.Equal(miss.Missing, []string{"moderator:manage:banned_users", "chat:edit"}) && !slices.Equal(miss.Missing, []string{"chat:edit", "moderator:manage:banned_users"}) {
		t.Fatalf("missing scopes: %d %s", resp.StatusCode, body)
	}

	resp, body = e.do("GET", "/v1/token/intent/chat", e.keys[PermTokenIntent])
	if it := decode[tokenResponse](t, body); resp.StatusCode != 200 || it.UserID != u.ID {
		t.Fatalf("intent token: %d %s", resp.StatusCode, body)
	}

	before := decode[tokenResponse](t, mustBody(e.do("GET", "/v1/token/user/"+u.ID, e.keys[PermTokenUser])))
	resp, body = e.do("POST", "/v1/token/user/"+u.ID+"/refresh", e.keys[PermTokenRefresh])
	after := decode[tokenResponse](t, body)
	if resp.StatusCode != 200 || after.AccessToken == before.AccessToken {
		t.Fatalf("refresh: %d, token changed %v", resp.StatusCode, after.AccessToken != before.AccessToken)
	}

	resp, body = e.do("GET", "/v1/users", e.keys[PermUsersRead])
	list := decode[struct{ Users []accountResponse }](t, body)
	if resp.StatusCode != 200 || len(list.Users) != 1 || list.Users[0].Login != u.Login ||
		list.Users[0].Status != "active" || !slices.Equal(list.Users[0].Intents, []string{"chat"}) {
		t.Fatalf("users: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), after.AccessToken) {
		t.Fatal("GET /v1/users shows a token")
	}

	revokesBefore := e.sb.Requests("revoke")
	resp, body = e.do("DELETE", "/v1/users/"+u.ID, e.keys[PermUsersDelete])
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	if e.sb.Requests("revoke") <= revokesBefore {
		t.Fatal("delete did not revoke at Twitch")
	}
	if n := len(e.b.Provider().Users()); n != 0 {
		t.Fatalf("%d users after delete", n)
	}
	// The revoked access token is refused by Twitch now.
	if _, err := e.b.twitch.Validate(t.Context(), after.AccessToken); err == nil {
		t.Fatal("the deleted user's token still validates")
	}
	resp, body = e.do("GET", "/v1/token/user/"+u.ID, e.keys[PermTokenUser])
	if resp.StatusCode != 404 {
		t.Fatalf("token of a deleted user: %d %s", resp.StatusCode, body)
	}
}

func mustBody(_ *http.Response, b []byte) []byte { return b }

func TestMalformedRequestsGetJSON4xx(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v1/token/user/not%20a%20login", 400},
		{"GET", "/v1/token/user/12345?scopes=bad%20%22scope%22", 400},
		{"GET", "/v1/token/user/424242", 404},
		{"GET", "/v1/token/intent/nobody", 404},
		{"GET", "/v1/token/intent/" + strings.Repeat("x", 65), 400},
		{"POST", "/v1/token/user/424242/refresh", 404},
		{"DELETE", "/v1/users/424242", 404},
		{"GET", "/v1/nothing", 404},
		{"GET", "/helix/users?twitch_subject=root", 400},
		{"GET", "/helix/users?twitch_subject=user:424242", 404},
		{"GET", "/helix/users?twitch_subject=intent:nobody", 404},
	} {
		resp, body := e.do(c.method, c.path, e.admin)
		if resp.StatusCode != c.want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %q, want %d JSON", c.method, c.path, resp.StatusCode, body, c.want)
		}
	}
}

func TestReadyzReportsRefusedSecret(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Twitch.ClientSecret = "wrong-secret" })
	resp, body := e.do("GET", "/readyz", "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "refused the client secret") {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "wrong-secret") {
		t.Fatal("readyz shows the secret")
	}
	resp, body = e.do("GET", "/v1/token/app", e.admin)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "client_credentials_refused") {
		t.Fatalf("app token with a wrong secret: %d %s", resp.StatusCode, body)
	}
	resp, _ = e.do("GET", "/healthz", "")
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}

	ok := newEnv(t)
	resp, body = ok.do("GET", "/readyz", "")
	if resp.StatusCode != 200 {
		t.Fatalf("readyz with good credentials: %d %s", resp.StatusCode, body)
	}
}

func TestMetricsCountEvents(t *testing.T) {
	e := newEnv(t)
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close()
	e.do("POST", "/v1/token/user/"+u.ID+"/refresh", e.admin)
	e.do("GET", "/v1/token/app", "")
	_, body := e.do("GET", "/metrics", "")
	for _, want := range []string{
		`twitchauth_refreshes_total{subject="user"} 1`,
		`twitchauth_api_requests_total{code="401",route="token_app"} 1`,
		`twitchauth_logins_total{result="ok"} 1`,
		`twitchauth_accounts 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestHelixProxy(t *testing.T) {
	var got *http.Request
	var gotBody string
	calls := 0
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		got = r.Clone(r.Context())
		b := make([]byte, 100)
		n, _ := r.Body.Read(b)
		gotBody = string(b[:n])
		if calls == 1 && r.URL.Query().Get("fail401") == "1" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":"Unauthorized","status":401,"message":"Invalid OAuth token"}`))
			return
		}
		w.Header().Set("Ratelimit-Remaining", "799")
		w.Header().Set("Set-Cookie", "x=y")
		w.Write([]byte(`{"data":[{"id":"1"}]}`))
	}))
	t.Cleanup(upstream.Close)
	e := newEnv(t, func(c *Config) {
		c.Twitch.Endpoints.APIURL = upstream.URL + "/helix"
		// Send Chat Message needs it (the Transport checks before sending).
		c.Twitch.Scopes = append(c.Twitch.Scopes, "user:write:chat")
	})
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close()
	userTok := decode[tokenResponse](t, mustBody(e.do("GET", "/v1/token/user/"+u.ID, e.admin)))

	req, _ := http.NewRequest("POST", e.srv.URL+"/helix/chat/messages?broadcaster_id=1&twitch_subject=user:"+u.Login, strings.NewReader(`{"message":"hi"}`))
	req.Header.Set("Authorization", "Bearer "+e.keys[PermHelix])
	req.Header.Set("Cookie", "twitchauth_session=secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Ratelimit-Remaining") != "799" || resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("proxy response %d %v", resp.StatusCode, resp.Header)
	}
	if got.URL.Path != "/helix/chat/messages" || got.URL.RawQuery != "broadcaster_id=1" ||
		got.Header.Get("Authorization") != "Bearer "+userTok.AccessToken || got.Header.Get("Client-Id") != e.client.ID ||
		got.Header.Get("Cookie") != "" || got.Header.Get(SubjectHeader) != "" || gotBody != `{"message":"hi"}` {
		t.Fatalf("upstream saw %s %s?%s headers %v body %q", got.Method, got.URL.Path, got.URL.RawQuery, got.Header, gotBody)
	}

	// App subject by default; a 401 renews the token once and replays.
	calls = 0
	appBefore := decode[tokenResponse](t, mustBody(e.do("GET", "/v1/token/app", e.admin)))
	req, _ = http.NewRequest("GET", e.srv.URL+"/helix/users?fail401=1", nil)
	req.Header.Set("Authorization", "Bearer "+e.keys[PermHelix])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	appAfter := decode[tokenResponse](t, mustBody(e.do("GET", "/v1/token/app", e.admin)))
	if resp.StatusCode != 200 || calls != 2 || appAfter.AccessToken == appBefore.AccessToken ||
		got.Header.Get("Authorization") != "Bearer "+appAfter.AccessToken {
		t.Fatalf("401 replay: status %d, %d calls, renewed %v", resp.StatusCode, calls, appAfter.AccessToken != appBefore.AccessToken)
	}
	_, metrics := e.do("GET", "/metrics", "")
	if !strings.Contains(string(metrics), `twitchauth_helix_requests_total{code="200"} 2`) {
		t.Errorf("helix metrics missing")
	}
	_ = twitchauth.ErrInvalidToken
}

func TestHelixProxyAgainstSandbox(t *testing.T) {
	e := newEnv(t)
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close()
	for _, subj := range []string{"", "app", "user:" + u.ID, "user:" + u.Login} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/helix/users?login="+u.Login, nil)
		req.Header.Set("Authorization", "Bearer "+e.keys[PermHelix])
		if subj != "" {
			req.Header.Set(SubjectHeader, subj)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"id":"`+u.ID+`"`) || resp.Header.Get("Ratelimit-Limit") == "" {
			t.Fatalf("subject %q: %d %s", subj, resp.StatusCode, b)
		}
	}
	_, metrics := e.do("GET", "/metrics", "")
	if !strings.Contains(string(metrics), "twitchauth_helix_upstream_requests_total 4") {
		t.Errorf("upstream counter missing from metrics")
	}
}

// A proxied request whose endpoint needs a scope the grant lacks is refused
// by the broker, naming the scopes, without reaching Helix.
func TestHelixProxyMissingScopes(t *testing.T) {
	e := newEnv(t)
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close() // chat:read user:read:email
	e.sb.ResetCounters()
	req, _ := http.NewRequest("POST", e.srv.URL+"/helix/moderation/bans?broadcaster_id="+u.ID+"&moderator_id="+u.ID,
		strings.NewReader(`{"data":{"user_id":"1"}}`))
	req.Header.Set("Authorization", "Bearer "+e.keys[PermHelix])
	req.Header.Set(SubjectHeader, "user:"+u.ID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), `"error":"missing_scopes"`) ||
		!strings.Contains(string(b), `"moderator:manage:banned_users"`) {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	if n := e.sb.Requests("helix"); n != 0 {
		t.Errorf("Helix saw %d requests", n)
	}
}
