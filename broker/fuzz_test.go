package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// fuzzBroker is a broker wired to a sandbox, shared by the iterations of a
// fuzz target. Requests go straight to its handler.
type fuzzBroker struct {
	h        http.Handler
	admin    string // a key holding every permission
	readOnly string // a key holding users:read only
	public   string
}

func newFuzzBroker(f *testing.F) *fuzzBroker {
	sb := twitchtest.NewServer(f)
	srv := httptest.NewUnstartedServer(nil)
	f.Cleanup(srv.Close)
	public := "http://" + srv.Listener.Addr().String()
	cl, err := sb.AddClient(twitchtest.Client{Name: "broker fuzz", RedirectURIs: []string{public + "/callback"}})
	if err != nil {
		f.Fatal(err)
	}
	fb := &fuzzBroker{admin: broker.GenerateKey(), readOnly: broker.GenerateKey(), public: public}
	ks, err := broker.NewKeySet(
		broker.APIKey{Name: "admin", SHA256: broker.HashKey(fb.admin), Perms: []broker.Perm{broker.PermAdmin}},
		broker.APIKey{Name: "reader", SHA256: broker.HashKey(fb.readOnly), Perms: []broker.Perm{broker.PermUsersRead}},
	)
	if err != nil {
		f.Fatal(err)
	}
	b, err := broker.New(context.Background(), broker.Config{
		Twitch: &twitchauth.Config{
			ClientID: cl.ID, ClientSecret: cl.Secret, Scopes: []string{"chat:read"},
			Endpoints: twitchauth.Endpoints{IDURL: sb.IDURL(), APIURL: sb.APIURL()},
		},
		Store:     store.NewMemory(),
		PublicURL: public,
		Keys:      ks,
	})
	if err != nil {
		f.Fatal(err)
	}
	fb.h = b.Handler()
	srv.Config.Handler = fb.h
	srv.Start()
	return fb
}

func (fb *fuzzBroker) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	fb.h.ServeHTTP(w, r)
	return w
}

// issueState starts a sign-in and returns the state the broker sent to
// Twitch and the signed state cookie it set.
func (fb *fuzzBroker) issueState(t *testing.T) (state, cookie string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, fb.public+"/authorize", nil)
	w := fb.serve(r)
	if w.Code != http.StatusFound {
		t.Fatalf("GET /authorize: %d", w.Code)
	}
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == "twitchauth_state" {
			return loc.Query().Get("state"), c.Value
		}
	}
	t.Fatal("GET /authorize set no state cookie")
	return "", ""
}

// FuzzCallback sends arbitrary queries and state cookies to GET /callback,
// sometimes with a state the broker really issued and its signed cookie. No request without a
// valid Twitch code connects an account (the fuzzer cannot mint one), so
// every answer is a 4xx or 502 page, never a success, a redirect or a 500.
func FuzzCallback(f *testing.F) {
	fb := newFuzzBroker(f)
	for _, s := range []struct {
		query, cookie string
		real          bool
	}{
		{"code=abc&scope=chat%3Aread&state=xyz", "xyz", false},
		{"code=abc&scope=chat%3Aread", "REAL", true},
		{"code=abc", "", true},
		{"code=abc", "other", true},
		{"error=access_denied&error_description=The+user+denied+you+access", "REAL", true},
		{"error=redirect_mismatch&error_description=Parameter+redirect_uri+does+not+match+registered+URI", "", false},
		{"", "", false},
		{"state=&code=", "", false},
		{"state=%ZZ&code=%", "%ZZ", false},
		{"next=//evil.example&code=abc", "REAL", true},
	} {
		f.Add(s.query, s.cookie, s.real)
	}
	f.Fuzz(func(t *testing.T, query, cookie string, real bool) {
		raw := query
		if real {
			st, ck := fb.issueState(t)
			raw = "state=" + url.QueryEscape(st) + "&" + query
			if cookie == "REAL" {
				cookie = ck
			}
		}
		r, err := http.NewRequest(http.MethodGet, fb.public+"/callback", nil)
		if err != nil {
			t.Skip()
		}
		r.URL.RawQuery = raw
		r.RemoteAddr = "192.0.2.7:4242"
		if cookie != "" {
			r.Header.Set("Cookie", "twitchauth_state="+cookie)
		}
		w := fb.serve(r)
		if w.Code < 400 || w.Code == http.StatusInternalServerError {
			t.Fatalf("GET /callback?%s with cookie %q: status %d (Location %q)", raw, cookie, w.Code, w.Header().Get("Location"))
		}
		if loc := w.Header().Get("Location"); loc != "" {
			t.Fatalf("a refused callback redirects to %q", loc)
		}
	})
}

// FuzzAPIRequest sends arbitrary methods, paths, bodies and credentials to
// the token API and the Helix proxy. Without a valid key the answer is
// always 401 (or the catch-all's 404, or 405 with Allow for a known path);
// any refusal is a JSON error body; nothing answers 500.
func FuzzAPIRequest(f *testing.F) {
	fb := newFuzzBroker(f)
	for _, s := range []struct {
		method, path string
		auth         uint8
		body         string
	}{
		{"GET", "v1/token/app", 2, ""},
		{"GET", "v1/token/app", 0, ""},
		{"GET", "v1/token/app", 1, ""},
		{"GET", "v1/token/app", 3, ""},
		{"GET", "v1/token/user/12345", 2, ""},
		{"GET", "v1/token/user/bad%20user", 2, ""},
		{"GET", "v1/token/user/someone?scopes=a,b,%00", 2, ""},
		{"POST", "v1/token/user/12345/refresh", 2, "{"},
		{"GET", "v1/token/intent/..", 2, ""},
		{"DELETE", "v1/users/12345", 3, ""},
		{"GET", "v1/users", 3, ""},
		{"PATCH", "v1/users", 2, "x=y"},
		{"GET", "v1/nope", 2, ""},
		{"GET", "helix/users?login=twitchdev", 2, ""},
		{"POST", "helix/moderation/bans", 2, `{"data":`},
		{"GET", "helix/users", 0, ""},
		{"GET", "v1/token/app", 4, ""},
	} {
		f.Add(s.method, s.path, s.auth, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path string, auth uint8, body []byte) {
		if !strings.HasPrefix(path, "v1/") && !strings.HasPrefix(path, "helix/") {
			path = "v1/" + path
		}
		r, err := http.NewRequest(method, fb.public+"/"+path, bytes.NewReader(body))
		if err != nil {
			t.Skip() // not an HTTP request line net/http would hand a handler
		}
		r.RemoteAddr = "192.0.2.7:4242"
		switch auth % 5 {
		case 1:
			r.Header.Set("Authorization", "Bearer tak_not-a-key")
		case 2:
			r.Header.Set("Authorization", "Bearer "+fb.admin)
		case 3:
			r.Header.Set("Authorization", "Bearer "+fb.readOnly)
		case 4:
			r.Header.Set("Authorization", "Basic "+fb.admin)
		}
		w := fb.serve(r)
		if w.Code == http.StatusMovedPermanently || w.Code == http.StatusTemporaryRedirect || w.Code == http.StatusPermanentRedirect {
			// net/http's mux cleans the path (/v1/a/../b): the redirect
			// stays on this host.
			if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
				t.Fatalf("%s %s redirects to %q", method, r.URL, loc)
			}
			return
		}
		valid := auth%5 == 2 || auth%5 == 3
		if !valid && isAPIPath(r.URL.Path) && w.Code != http.StatusUnauthorized && w.Code != http.StatusNotFound && w.Code != http.StatusMethodNotAllowed {
			// 404 and 405 are the catch-all of unknown /v1/ routes and
			// methods, which reveal nothing but the documented routes; every
			// route that does something needs a key.
			t.Fatalf("%s %s without a valid key: status %d", method, r.URL, w.Code)
		}
		if w.Code == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "" {
			t.Fatalf("%s %s: 405 without Allow", method, r.URL)
		}
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s: 500", method, r.URL)
		}
		if w.Code >= 400 && isAPIPath(r.URL.Path) {
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("%s %s: %d refusal with Content-Type %q: %q", method, r.URL, w.Code, ct, w.Body.String())
			}
			var e struct {
				Error any `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == nil || e.Error == "" {
				t.Fatalf("%s %s: %d refusal body %q is not a JSON error", method, r.URL, w.Code, w.Body.String())
			}
		}
		if strings.Contains(w.Body.String(), fb.admin) || strings.Contains(w.Body.String(), fb.readOnly) {
			t.Fatalf("the answer repeats the API key")
		}
	})
}

// isAPIPath reports whether the mux routes p to the token API or the Helix
// proxy (net/http cleans paths such as /v1/../x first, redirecting them).
func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/helix/")
}
