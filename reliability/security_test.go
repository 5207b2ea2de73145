package reliability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/twitchauth/twitchauth/store"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/store/sqlite"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// secBroker is a broker with a SQLite store, wired to a recording sandbox.
type secBroker struct {
	rs     *recordingSandbox
	b      *broker.Broker
	public string
	admin  string
	reader string // users:read only
	dbPath string
	secret string // the client secret Twitch accepts
	logs   *lockedBuffer
}

func newSecBroker(t *testing.T, opts ...func(*broker.Config)) *secBroker {
	ctx := testCtx(t, time.Minute)
	bsrv := httptest.NewUnstartedServer(nil)
	public := "http://" + bsrv.Listener.Addr().String()
	rs := newRecordingSandbox(t, twitchtest.WithClient(twitchtest.Client{Name: "sec", Type: twitchtest.Confidential,
		RedirectURIs: []string{public + "/callback"}}))
	cl := rs.DefaultClient()
	dir := filepath.Join(t.TempDir(), "data")
	dbPath := filepath.Join(dir, "broker.db")
	st, err := sqlite.Open(ctx, dbPath, sqlite.Config{Key: store.KeyConfig{File: dbPath + ".key"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sb := &secBroker{rs: rs, public: public, admin: broker.GenerateKey(), reader: broker.GenerateKey(), dbPath: dbPath,
		secret: cl.Secret, logs: newLockedBuffer()}
	ks, err := broker.NewKeySet(
		broker.APIKey{Name: "admin", SHA256: broker.HashKey(sb.admin), Perms: []broker.Perm{broker.PermAdmin}},
		broker.APIKey{Name: "reader", SHA256: broker.HashKey(sb.reader), Perms: []broker.Perm{broker.PermUsersRead}},
	)
	if err != nil {
		t.Fatal(err)
	}
	cfg := broker.Config{
		Twitch: &twitchauth.Config{ClientID: cl.ID, ClientSecret: cl.Secret, Scopes: []string{"chat:read"},
			Endpoints: twitchauth.Endpoints{IDURL: rs.IDURL(), APIURL: rs.APIURL()}},
		Store: st, PublicURL: public, Keys: ks,
		Logger: slog.New(slog.NewTextHandler(sb.logs, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	sb.b, err = broker.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	bsrv.Config.Handler = sb.b.Handler()
	bsrv.Start()
	t.Cleanup(bsrv.Close)
	return sb
}

func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// startSignIn runs /authorize in c and returns the broker's callback URL as
// the sandbox redirects to it after login consents.
func (sb *secBroker) startSignIn(t *testing.T, c *http.Client, login string) string {
	t.Helper()
	resp, _ := get(t, c, sb.public+"/authorize")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("/authorize: %d", resp.StatusCode)
	}
	cb, err := sb.rs.Authorize(resp.Header.Get("Location"), login)
	if err != nil {
		t.Fatal(err)
	}
	return cb.String()
}

func TestBrokerStateReplayAndCrossSession(t *testing.T) {
	sb := newSecBroker(t)
	a, other := newBrowser(), newBrowser()

	cb := sb.startSignIn(t, a, "twitchdev")
	cbURL, _ := url.Parse(cb)
	stateCookies := a.Jar.Cookies(cbURL) // what an attacker who copied the browser would hold
	if resp, _ := get(t, a, cb); resp.StatusCode != http.StatusOK {
		t.Fatalf("first callback: %d", resp.StatusCode)
	}
	// Replay of a used callback, by the same browser, by another one, and by
	// one holding a copy of the state cookie: refused by the broker itself
	// (the state is spent), before the spent code reaches Twitch.
	copied := newBrowser()
	copied.Jar.SetCookies(cbURL, stateCookies)
	exchanges := sb.rs.Requests("token:authorization_code")
	for name, c := range map[string]*http.Client{"same browser": a, "other browser": other, "copied state cookie": copied} {
		if resp, _ := get(t, c, cb); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("replayed callback (%s): %d, want 400", name, resp.StatusCode)
		}
	}
	if n := sb.rs.Requests("token:authorization_code") - exchanges; n != 0 {
		t.Errorf("a replayed callback sent its code to Twitch %d times: the broker did not refuse the spent state", n)
	}
	// A callback completed in another browser than the one that started
	// the sign-in is refused and connects nothing, whether that browser has
	// no state cookie or one of its own sign-in (the login-CSRF shape). The
	// state lives in the starting browser's signed cookie, so that browser
	// can still finish (it used to be spent by the refused attempt, which
	// let whoever saw the callback URL cancel the sign-in).
	cb = sb.startSignIn(t, a, "broadcaster")
	if resp, body := get(t, other, cb); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "another browser") {
		t.Errorf("cross-session callback: %d", resp.StatusCode)
	}
	withOwn := newBrowser()
	get(t, withOwn, sb.public+"/authorize")
	if resp, body := get(t, withOwn, cb); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "another browser") {
		t.Errorf("cross-session callback from a browser with a sign-in of its own: %d", resp.StatusCode)
	}
	if n := len(sb.b.Provider().Users()); n != 1 {
		t.Fatalf("%d accounts connected after cross-session attempts, want 1", n)
	}
	if resp, _ := get(t, a, cb); resp.StatusCode != http.StatusOK {
		t.Errorf("the starting browser's callback after cross-session attempts: %d, want 200", resp.StatusCode)
	}
	// A forged state with a matching cookie the broker never issued.
	u, _ := url.Parse(cb)
	q := u.Query()
	q.Set("state", twitchauth.NewState())
	u.RawQuery = q.Encode()
	forged := newBrowser()
	pu, _ := url.Parse(sb.public + "/callback")
	forged.Jar.SetCookies(pu, []*http.Cookie{{Name: "twitchauth_state", Value: q.Get("state"), Path: "/callback"}})
	if resp, _ := get(t, forged, u.String()); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("forged state: %d, want 400", resp.StatusCode)
	}
	// A state cookie signed by another broker (another key).
	other2 := newSecBroker(t)
	foreign := newBrowser()
	resp, _ := get(t, foreign, other2.public+"/authorize")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "twitchauth_state" {
			ck = c
		}
	}
	q.Set("state", loc.Query().Get("state"))
	u.RawQuery = q.Encode()
	forged.Jar.SetCookies(pu, []*http.Cookie{{Name: "twitchauth_state", Value: ck.Value, Path: "/callback"}})
	if resp, _ := get(t, forged, u.String()); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a state cookie of another broker: %d, want 400", resp.StatusCode)
	}
	if n := len(sb.b.Provider().Users()); n != 2 {
		t.Errorf("%d accounts connected, want the two sign-ins completed by their own browsers", n)
	}
}

func TestBrokerNoOpenRedirect(t *testing.T) {
	sb := newSecBroker(t)
	c := newBrowser()
	pub, _ := url.Parse(sb.public)
	sandbox, _ := url.Parse(sb.rs.url)
	evil := []string{"//evil.example", "https://evil.example/", "/\\evil.example", "http:evil.example", "%2F%2Fevil.example"}
	var paths []string
	for _, e := range evil {
		for _, p := range []string{"/authorize", "/login", "/callback", "/", "/signin", "/logout", "/accounts/1/refresh"} {
			for _, param := range []string{"next", "redirect", "redirect_uri", "return_to", "continue"} {
				paths = append(paths, p+"?"+param+"="+url.QueryEscape(e))
			}
		}
		paths = append(paths, "/"+e, "/static/"+e, "/static/..%2f..%2f"+e)
	}
	check := func(what string, resp *http.Response) {
		loc := resp.Header.Get("Location")
		if loc == "" {
			return
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Errorf("%s: unparseable Location %q", what, loc)
			return
		}
		switch {
		case u.Host == "" && strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") && !strings.HasPrefix(loc, "/\\"):
		case u.Host == pub.Host:
		case u.Host == sandbox.Host && u.Path == "/oauth2/authorize" && u.Query().Get("redirect_uri") == sb.public+"/callback":
		default:
			t.Errorf("%s redirects to %q", what, loc)
		}
	}
	for _, p := range paths {
		req, _ := http.NewRequest(http.MethodGet, sb.public+p, nil)
		if req == nil {
			continue
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		check("GET "+p, resp)
		resp, err = c.Post(sb.public+p, "application/x-www-form-urlencoded", strings.NewReader("key="+sb.admin+"&next=//evil.example"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		check("POST "+p, resp)
	}
	// Opened under a loopback alias, /authorize sends the browser to the
	// public URL only.
	req, _ := http.NewRequest(http.MethodGet, sb.public+"/authorize?next=//evil.example", nil)
	req.Host = "localhost:" + pub.Port()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	check("GET /authorize under a loopback alias", resp)
}

func TestBrokerRoutesNeedAPIKey(t *testing.T) {
	sb := newSecBroker(t)
	routes := []struct{ method, path string }{
		{"GET", "/v1/token/app"}, {"GET", "/v1/token/user/12345"}, {"GET", "/v1/token/user/twitchdev"},
		{"GET", "/v1/token/intent/chat"}, {"POST", "/v1/token/user/12345/refresh"}, {"POST", "/v1/token/intent/chat/refresh"}, {"GET", "/v1/users"},
		{"DELETE", "/v1/users/12345"}, {"GET", "/helix/users"}, {"POST", "/helix/moderation/bans"},
	}
	for _, r := range routes {
		for _, auth := range []string{"", "Bearer ", "Bearer tak_wrong", "Basic " + sb.admin, "bearer" + sb.admin, sb.admin} {
			req, _ := http.NewRequest(r.method, sb.public+r.path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !json.Valid(body) {
				t.Errorf("%s %s with Authorization %q: %d %q, want a JSON 401", r.method, r.path, strings.ReplaceAll(auth, sb.admin, "<admin key>"), resp.StatusCode, body)
			}
		}
		if r.path == "/v1/users" {
			continue // the reader key holds users:read
		}
		req, _ := http.NewRequest(r.method, sb.public+r.path, nil)
		req.Header.Set("Authorization", "Bearer "+sb.reader)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s with a users:read key: %d, want 403", r.method, r.path, resp.StatusCode)
		}
	}
	// The operator's pages and actions need a session (this broker is not in
	// the loopback-open sandbox mode).
	a := newBrowser()
	get(t, a, sb.startSignIn(t, a, "twitchdev"))
	if resp, body := get(t, newBrowser(), sb.public+"/"); strings.Contains(body, "twitchdev") || resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") == "/" {
		t.Errorf("GET / without a session shows the accounts (%d)", resp.StatusCode)
	}
	u, _ := sb.rs.User("twitchdev")
	for _, action := range []string{"refresh", "validate", "revoke"} {
		resp, err := http.Post(sb.public+"/accounts/"+u.ID+"/"+action, "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST /accounts/%s/%s without a session: %d, want 401", u.ID, action, resp.StatusCode)
		}
	}
	if len(sb.b.Provider().Users()) != 1 {
		t.Error("an unauthenticated action removed the account")
	}
}

func TestStoreFilesHoldNoPlaintextToken(t *testing.T) {
	sb := newSecBroker(t)
	for _, login := range []string{"twitchdev", "broadcaster", "moderator"} {
		c := newBrowser()
		if resp, _ := get(t, c, sb.startSignIn(t, c, login)); resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-in of %s: %d", login, resp.StatusCode)
		}
	}
	for _, a := range sb.b.Provider().Users() {
		req, _ := http.NewRequest(http.MethodPost, sb.public+"/v1/token/user/"+a.UserID+"/refresh", nil)
		req.Header.Set("Authorization", "Bearer "+sb.admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("refresh: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	sb.rs.mu.Lock()
	secrets := append([]string{}, sb.rs.secrets...)
	sb.rs.mu.Unlock()
	if len(secrets) < 6 {
		t.Fatalf("%d tokens recorded", len(secrets))
	}
	dir := filepath.Dir(sb.dbPath)
	entries, _ := os.ReadDir(dir)
	var files []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		files = append(files, e.Name())
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), st.Mode().Perm())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds a plaintext token (%d bytes)", e.Name(), len(s))
			}
		}
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("the store's directory: %v %v, want 0700", st.Mode().Perm(), err)
	}
	if !strings.Contains(strings.Join(files, " "), "broker.db-wal") {
		t.Logf("no WAL file present (checkpointed): %v", files)
	}
	t.Logf("checked %d tokens against %v", len(secrets), files)
}

// defaultAddrRE finds the default of a listen-address flag in --help output.
var defaultAddrRE = regexp.MustCompile(`--(listen|sandbox-listen)\s+\S+\s.*\(default "([^"]+)"\)`)

func TestListenersDefaultToLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildTwitchauth(t, t.TempDir())
	seen := 0
	for _, cmd := range []string{"serve", "mock", "rig"} {
		out, err := exec.Command(bin, cmd, "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --help: %v\n%s", cmd, err, out)
		}
		for _, m := range defaultAddrRE.FindAllStringSubmatch(string(out), -1) {
			seen++
			ap, err := netip.ParseAddrPort(m[2])
			if err != nil || !ap.Addr().IsLoopback() {
				t.Errorf("twitchauth %s --%s defaults to %q, not a loopback address", cmd, m[1], m[2])
			}
		}
	}
	if seen < 4 {
		t.Errorf("found %d listen-address defaults in the help of serve, mock and rig", seen)
	}
	s := twitchtest.NewServer(t)
	u, _ := url.Parse(s.URL())
	if ap, err := netip.ParseAddrPort(u.Host); err != nil || !ap.Addr().IsLoopback() {
		t.Errorf("twitchtest.NewServer listens on %s", u.Host)
	}
}

// TestSandboxMalformedRequests sends malformed requests to the sandbox's
// identity and Helix endpoints: each gets a 4xx with a JSON error body.
func TestSandboxMalformedRequests(t *testing.T) {
	s := twitchtest.NewServer(t)
	cases := []struct{ method, path, ctype, body string }{
		{"POST", "/oauth2/token", "application/x-www-form-urlencoded", "%zz"},
		{"POST", "/oauth2/token", "multipart/form-data; boundary=x", "--x\r\nbroken"},
		{"POST", "/oauth2/token", "application/json", `{"grant_type":"client_credentials"}`},
		{"POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=nope"},
		{"POST", "/oauth2/token", "application/x-www-form-urlencoded", strings.Repeat("a=b&", 300000)},
		{"GET", "/oauth2/token", "", ""},
		{"PUT", "/oauth2/validate", "", ""},
		{"GET", "/oauth2/validate", "", ""},
		{"POST", "/oauth2/revoke", "application/x-www-form-urlencoded", "client_id=&token="},
		{"POST", "/oauth2/device", "application/x-www-form-urlencoded", "client_id=x&scopes=%"},
		{"GET", "/oauth2/nope", "", ""},
		{"GET", "/helix/users", "", ""},
		{"POST", "/helix/moderation/bans", "application/json", `{"data":`},
		{"GET", "/helix/../../etc/passwd", "", ""},
		{"TRACE", "/helix/users", "", ""},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, s.URL()+c.path, strings.NewReader(c.body))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode > 499 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !json.Valid(body) {
			t.Errorf("%s %s: %d %s %.100q, want a 4xx JSON error", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}

	// Requests net/http refuses before any handler runs get its plain-text
	// 400: recorded, not a failure of ours (no handler can answer them).
	for _, raw := range []string{"GARBAGE\r\n\r\n", "GET /oauth2/validate HTTP/9.9\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write([]byte(raw))
		line, _ := io.ReadAll(io.LimitReader(conn, 200))
		conn.Close()
		first, _, _ := strings.Cut(string(line), "\r\n")
		if !strings.Contains(first, " 400 ") && !strings.Contains(first, " 505 ") {
			t.Errorf("raw request %q: %q", raw, first)
		}
		t.Logf("net/http answers %q with %q (plain text, before the handler)", raw, first)
	}
}

// FuzzSandboxRequest sends arbitrary methods, paths, content types and
// bodies to the sandbox's identity and Helix endpoints: nothing answers 5xx,
// and every refusal is a JSON error.
func FuzzSandboxRequest(f *testing.F) {
	s, err := twitchtest.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	h := s.Handler()
	tok, _ := s.MintAppToken(s.DefaultClient().ID)
	for _, c := range []struct {
		method, path, ctype string
		body                []byte
		auth                bool
	}{
		{"POST", "oauth2/token", "application/x-www-form-urlencoded", []byte("grant_type=client_credentials&client_id=x"), false},
		{"POST", "oauth2/token", "multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--b--"), false},
		{"GET", "oauth2/validate", "", nil, true},
		{"POST", "oauth2/revoke", "application/x-www-form-urlencoded", []byte("client_id=x&token=y"), false},
		{"POST", "oauth2/device", "application/x-www-form-urlencoded", []byte("client_id=x&scopes=chat:read"), false},
		{"GET", "helix/users?login=twitchdev", "", nil, true},
		{"PATCH", "helix/channels?broadcaster_id=1", "application/json", []byte(`{"title":1}`), true},
		{"POST", "helix/moderation/bans?broadcaster_id=1&moderator_id=1", "application/json", []byte(`{"data":{"user_id":[]}}`), true},
		{"GET", "helix/streams?first=1000000&after=%%%", "", nil, true},
	} {
		f.Add(c.method, c.path, c.ctype, c.body, c.auth)
	}
	f.Fuzz(func(t *testing.T, method, path, ctype string, body []byte, auth bool) {
		if !strings.HasPrefix(path, "oauth2/") && !strings.HasPrefix(path, "helix/") {
			path = "oauth2/" + path
		}
		r, err := http.NewRequest(method, "http://127.0.0.1/"+path, bytes.NewReader(body))
		if err != nil {
			t.Skip()
		}
		switch r.URL.Path {
		case "/oauth2/authorize":
			t.Skip() // an HTML page for browsers
		}
		r.Header.Set("Content-Type", ctype)
		r.RemoteAddr = "127.0.0.1:5555"
		if auth {
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("Client-Id", s.DefaultClient().ID)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %q", method, r.URL, w.Code, w.Body.String())
		}
		if w.Code >= 400 && !(w.Code == 404 && r.URL.Path != "/" && !strings.HasPrefix(r.URL.Path, "/oauth2/") && !strings.HasPrefix(r.URL.Path, "/helix/")) {
			if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") || !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s %s: %d refusal is not JSON: %s %q", method, r.URL, w.Code, w.Header().Get("Content-Type"), w.Body.String())
			}
		}
	})
}

// The attacks of issue 15: a stranger on the same network or the same
// machine tries to take a broker's intent, reach past Helix, lock sign-ins
// out, rebind DNS, revoke without a session, plant a wrong client secret,
// or confuse a login with a user ID. Each was seen to succeed before the
// fix (see RELIABILITY.md, "Security checks").

// operatorBrowser returns a browser signed in to the operator's pages with
// the admin key.
func (sb *secBroker) operatorBrowser(t *testing.T) *http.Client {
	t.Helper()
	c := newBrowser()
	resp, err := c.PostForm(sb.public+"/login", url.Values{"key": {sb.admin}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("operator sign-in: %d", resp.StatusCode)
	}
	return c
}

var (
	postFormRE = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)"[^>]*>(.*?)</form>`)
	hiddenRE   = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// submitForm posts the first form of page whose action is action, with its
// hidden fields, as the browser c would.
func (sb *secBroker) submitForm(t *testing.T, c *http.Client, page, action string) (*http.Response, bool) {
	t.Helper()
	for _, m := range postFormRE.FindAllStringSubmatch(page, -1) {
		if html.UnescapeString(m[1]) != action {
			continue
		}
		form := url.Values{}
		for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
			form.Set(h[1], html.UnescapeString(h[2]))
		}
		resp, err := c.PostForm(sb.public+action, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp, true
	}
	return nil, false
}

// connectFor drives a browser from start (a broker path) through whatever
// the broker answers: redirects within the broker are followed, a form
// posting to /authorize is submitted, and on the sandbox's consent page
// login consents. It returns the last page's status and body.
func (sb *secBroker) connectFor(t *testing.T, c *http.Client, start, login string) (int, string) {
	t.Helper()
	next := sb.public + start
	for range 8 {
		resp, body := get(t, c, next)
		loc := resp.Header.Get("Location")
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400 && strings.HasPrefix(loc, sb.rs.url):
			cb, err := sb.rs.Authorize(loc, login)
			if err != nil {
				t.Fatal(err)
			}
			resp, body = get(t, c, cb.String())
			return resp.StatusCode, body
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			u, err := url.Parse(sb.public + "/")
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := url.Parse(loc)
			next = u.ResolveReference(ref).String()
			continue
		case resp.StatusCode == http.StatusOK:
			if r, ok := sb.submitForm(t, c, body, "/authorize"); ok {
				if r.StatusCode != http.StatusFound {
					return r.StatusCode, "(the form post to /authorize was refused)"
				}
				next = r.Header.Get("Location")
				cb, err := sb.rs.Authorize(next, login)
				if err != nil {
					t.Fatal(err)
				}
				resp, body = get(t, c, cb.String())
				return resp.StatusCode, body
			}
			if strings.Contains(body, `href="/authorize?intent=`) {
				i := strings.Index(body, `href="/authorize?intent=`) + len(`href="`)
				next = sb.public + html.UnescapeString(body[i:i+strings.IndexByte(body[i:], '"')])
				continue
			}
		}
		return resp.StatusCode, body
	}
	t.Fatalf("%s: too many hops", start)
	return 0, ""
}

// intentHolder returns the user ID the token API answers for intent.
func (sb *secBroker) intentHolder(t *testing.T, intent string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, sb.public+"/v1/token/intent/"+intent, nil)
	req.Header.Set("Authorization", "Bearer "+sb.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		UserID string `json:"user_id"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	return tok.UserID
}

// TestAttackIntentTakeover: a stranger who opens /authorize?intent=X (or
// /signin?intent=X) and consents as themselves does not take the intent
// (before the fix, the token API then answered the stranger's token); nor
// does a forged POST; nor does another Twitch account consenting in the
// operator's own browser: an intent moves only by the operator's explicit,
// logged action, visible on the accounts page.
func TestAttackIntentTakeover(t *testing.T) {
	sb := newSecBroker(t)
	bc, _ := sb.rs.User("broadcaster")
	mod, _ := sb.rs.User("moderator")
	op := sb.operatorBrowser(t)
	if st, body := sb.connectFor(t, op, "/authorize?intent=broadcaster", "broadcaster"); st >= 400 {
		t.Fatalf("the operator's sign-in for the intent: %d\n%s", st, body)
	}
	if got := sb.intentHolder(t, "broadcaster"); got != bc.ID {
		t.Fatalf("intent broadcaster -> %q after the operator's sign-in, want %s", got, bc.ID)
	}

	for _, start := range []string{"/authorize?intent=broadcaster", "/signin?intent=broadcaster"} {
		st, body := sb.connectFor(t, newBrowser(), start, "viewer")
		if got := sb.intentHolder(t, "broadcaster"); got != bc.ID {
			t.Fatalf("a stranger's sign-in from %s moved intent broadcaster to %q", start, got)
		}
		if st != http.StatusForbidden || !strings.Contains(body, "operator") {
			t.Errorf("a stranger's %s: %d, want a 403 page saying the operator assigns intents\n%s", start, st, body)
		}
	}

	// Forged starts of an intent sign-in with the operator's cookies: no
	// CSRF token (a non-browser client, or a form on a sibling site), and a
	// cross-site form.
	for name, hdr := range map[string][2]string{"no token": {}, "cross-site": {"https://evil.example", "cross-site"}} {
		req, _ := http.NewRequest(http.MethodPost, sb.public+"/authorize", strings.NewReader("intent=broadcaster"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if hdr[0] != "" {
			req.Header.Set("Origin", hdr[0])
			req.Header.Set("Sec-Fetch-Site", hdr[1])
		}
		resp, err := op.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("forged POST /authorize (%s): %d %s, want a 4xx", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	// Another Twitch account consents in the operator's browser: connected,
	// but the intent stays, and the page offers the explicit move.
	st, body := sb.connectFor(t, op, "/signin?intent=broadcaster", "moderator")
	if got := sb.intentHolder(t, "broadcaster"); got != bc.ID {
		t.Fatalf("a sign-in as moderator in the operator's browser moved intent broadcaster implicitly (to %q)", got)
	}
	if st != http.StatusOK || !strings.Contains(body, "still points at") {
		t.Errorf("the operator's sign-in as another user: %d, want a page saying the intent still points at broadcaster\n%s", st, body)
	}
	if _, held := sb.b.Provider().User(mod.ID); !held || len(sb.b.Provider().Users()) != 2 {
		t.Errorf("%d accounts held, want broadcaster and moderator (the refused stranger connected nothing)", len(sb.b.Provider().Users()))
	}

	// The explicit move: the confirmation page, then its form.
	_, page := get(t, op, sb.public+"/intents/assign?intent=broadcaster&user="+mod.ID)
	resp, ok := sb.submitForm(t, op, page, "/intents/assign")
	if !ok {
		t.Fatalf("no confirmation form to move the intent:\n%s", page)
	}
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("moving the intent: %d", resp.StatusCode)
	}
	if got := sb.intentHolder(t, "broadcaster"); got != mod.ID {
		t.Fatalf("after the operator's move: intent broadcaster -> %q, want %s", got, mod.ID)
	}
	if !strings.Contains(sb.logs.String(), `msg="intent moved" intent=broadcaster from=`+bc.ID+` to=`+mod.ID+` by=admin`) {
		t.Errorf("the move is not logged:\n%s", sb.logs.String())
	}
	_, home := get(t, op, sb.public+"/")
	if !strings.Contains(home, `id="intent-changes"`) || !strings.Contains(home, "broadcaster") || !strings.Contains(home, "moderator") {
		t.Errorf("the accounts page does not show the move:\n%s", home)
	}
	// Without a session the confirmation page and its form are refused.
	if resp, _ := get(t, newBrowser(), sb.public+"/intents/assign?intent=broadcaster&user="+bc.ID); resp.StatusCode < 300 || resp.StatusCode >= 500 {
		t.Errorf("the move confirmation page without a session: %d", resp.StatusCode)
	}
	resp, err := http.PostForm(sb.public+"/intents/assign", url.Values{"intent": {"broadcaster"}, "user": {bc.ID}, "from": {mod.ID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || sb.intentHolder(t, "broadcaster") != mod.ID {
		t.Errorf("a move without a session: %d, intent -> %s", resp.StatusCode, sb.intentHolder(t, "broadcaster"))
	}
}

// TestAttackHelixPathEscape: encoded slashes and dot segments do not carry
// a subject's token out of /helix (before the fix, the proxy sent
// /helix/users/../../oauth2/validate upstream and relayed the sandbox's 307).
func TestAttackHelixPathEscape(t *testing.T) {
	// A client that followed a relayed redirect would send its own API key
	// on (net/http keeps Authorization for the same host on another port).
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	sb := newSecBroker(t)
	a := newBrowser()
	get(t, a, sb.startSignIn(t, a, "twitchdev"))
	u, _ := sb.rs.User("twitchdev")
	outside := func() int {
		sb.rs.mu.Lock()
		defer sb.rs.mu.Unlock()
		n := 0
		for _, s := range sb.rs.urls {
			if strings.Contains(s, "..") || strings.Contains(strings.ToLower(s), "%2f") || strings.Contains(strings.ToLower(s), "%2e") {
				n++
			}
		}
		return n
	}
	for _, p := range []string{
		"/helix/users%2F..%2F..%2Foauth2%2Fvalidate",
		"/helix/users/..%2F..%2Foauth2%2Fvalidate",
		"/helix/%2E%2E/oauth2/validate",
		"/helix/users/%2e%2e/%2e%2e/oauth2/validate",
		"/helix/users%5C..%5C..%5Coauth2%5Cvalidate",
		"/helix/users%2fx",
	} {
		for _, subj := range []string{"app", "user:" + u.ID} {
			req, _ := http.NewRequest(http.MethodGet, sb.public+p, nil)
			req.Header.Set("Authorization", "Bearer "+sb.admin)
			req.Header.Set(broker.SubjectHeader, subj)
			resp, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !json.Valid(body) || resp.Header.Get("Location") != "" {
				t.Errorf("GET %s as %s: %d %s Location=%q, want a JSON 400", p, subj, resp.StatusCode, body, resp.Header.Get("Location"))
			}
		}
	}
	if n := outside(); n != 0 {
		t.Errorf("the sandbox received %d requests with dot segments or encoded slashes", n)
	}

	// An upstream redirect is not relayed as a way out of /helix.
	var hits int
	var hmu sync.Mutex
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hmu.Lock()
		hits++
		hmu.Unlock()
		http.Redirect(w, r, sb.rs.IDURL()+"/validate", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(evil.Close)
	rb := newSecBroker(t, func(c *broker.Config) { c.Twitch.Endpoints.APIURL = evil.URL + "/helix" })
	req, _ := http.NewRequest(http.MethodGet, rb.public+"/helix/users", nil)
	req.Header.Set("Authorization", "Bearer "+rb.admin)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Location") != "" || !json.Valid(body) {
		t.Errorf("an upstream 307: relayed as %d Location=%q %s, want a JSON 502 without Location", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	hmu.Lock()
	defer hmu.Unlock()
	if hits != 1 {
		t.Errorf("the redirecting upstream saw %d requests, want 1 (no redirect followed)", hits)
	}
}

// TestAttackSignInFlood: 10,000 anonymous GET /authorize from one client do
// not lock out the next real browser (before the fix it got 503 "Too many
// sign-ins" for 10 minutes).
func TestAttackSignInFlood(t *testing.T) {
	sb := newSecBroker(t)
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := range 10_001 {
		resp, err := c.Get(sb.public + "/authorize")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("GET /authorize number %d: %d", i+1, resp.StatusCode)
		}
	}
	a := newBrowser()
	resp, _ := get(t, a, sb.public+"/authorize")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("a real browser after the flood: %d, want the redirect to Twitch", resp.StatusCode)
	}
	cb, err := sb.rs.Authorize(resp.Header.Get("Location"), "twitchdev")
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := get(t, a, cb.String()); resp.StatusCode != http.StatusOK {
		t.Fatalf("a real browser's callback after the flood: %d\n%s", resp.StatusCode, body)
	}
}

// TestAttackDNSRebinding: under a foreign Host (a rebinding attacker's
// name) the broker shows nothing and changes nothing, also in the loopback-
// open sandbox mode; before the fix it showed the accounts page and a
// same-origin POST revoked an account.
func TestAttackDNSRebinding(t *testing.T) {
	sb := newSecBroker(t, func(c *broker.Config) { c.OpenOnLoopback = true })
	a := newBrowser()
	get(t, a, sb.startSignIn(t, a, "twitchdev"))
	u, _ := sb.rs.User("twitchdev")
	pub, _ := url.Parse(sb.public)
	evil := "evil.example:" + pub.Port()
	do := func(method, path, host string, hdr map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest(method, sb.public+path, nil)
		req.Host = host
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	nav := map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
	if resp, body := do("GET", "/", evil, nav); resp.StatusCode != http.StatusMisdirectedRequest || strings.Contains(body, "twitchdev") {
		t.Errorf("GET / with Host %s: %d (shows the account: %v), want 421", evil, resp.StatusCode, strings.Contains(body, "twitchdev"))
	}
	same := map[string]string{"Origin": "http://" + evil, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/x-www-form-urlencoded"}
	for _, action := range []string{"revoke", "refresh"} {
		if resp, _ := do("POST", "/accounts/"+u.ID+"/"+action, evil, same); resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("same-origin POST %s with Host %s: %d, want 421", action, evil, resp.StatusCode)
		}
	}
	if _, held := sb.b.Provider().User(u.ID); !held {
		t.Fatal("a rebinding page revoked the account")
	}
	for _, p := range []string{"/v1/users", "/readyz", "/metrics"} {
		resp, body := do("GET", p, evil, map[string]string{"Authorization": "Bearer " + sb.admin})
		if resp.StatusCode != http.StatusMisdirectedRequest || !json.Valid([]byte(body)) || !strings.Contains(body, "allowed_hosts") {
			t.Errorf("GET %s with Host %s: %d %s, want a JSON 421 naming allowed_hosts", p, evil, resp.StatusCode, body)
		}
	}
	// The public URL's host, loopback names and IP literals (probes, a
	// proxy rewriting Host to the upstream address) are answered.
	for _, host := range []string{pub.Host, "localhost:" + pub.Port(), "127.0.0.1", "[::1]:" + pub.Port(), "10.1.2.3:8080"} {
		if resp, body := do("GET", "/healthz", host, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET /healthz with Host %s: %d %s", host, resp.StatusCode, body)
		}
	}
}

// TestAttackLoopbackRevokeWithoutSession: in the loopback-open sandbox mode
// a bare `curl -X POST .../accounts/ID/revoke` (no cookie, no Origin) used
// to remove the account. State-changing routes need the browser session and
// its CSRF token; a loopback browser's navigation gets that session, and
// the revoke button asks for confirmation first.
func TestAttackLoopbackRevokeWithoutSession(t *testing.T) {
	sb := newSecBroker(t, func(c *broker.Config) { c.OpenOnLoopback = true })
	a := newBrowser()
	get(t, a, sb.startSignIn(t, a, "twitchdev"))
	u, _ := sb.rs.User("twitchdev")
	forged := []map[string]string{
		{},
		{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Origin": sb.public},
	}
	for _, action := range []string{"revoke", "refresh", "validate"} {
		for _, hdr := range forged {
			req, _ := http.NewRequest(http.MethodPost, sb.public+"/accounts/"+u.ID+"/"+action, strings.NewReader("confirm=yes"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("POST %s from loopback without a session (%v): %d, want 401 or 403", action, hdr, resp.StatusCode)
			}
		}
	}
	if _, held := sb.b.Provider().User(u.ID); !held {
		t.Fatal("a loopback POST without a session revoked the account")
	}
	// Nor can a script get a session or a CSRF token by reading the pages
	// first: only a browser's navigation opens a session.
	script := newBrowser()
	for _, p := range []string{"/", "/accounts/" + u.ID + "/revoke", "/signin"} {
		resp, page := get(t, script, sb.public+p)
		if strings.Contains(page, `name="csrf"`) || len(script.Jar.Cookies(resp.Request.URL)) != 0 {
			t.Errorf("a non-browser GET %s from loopback got a session or a CSRF token (%d)", p, resp.StatusCode)
		}
	}

	// A browser: its navigation to the accounts page opens a session;
	// Revoke shows a confirmation; its form revokes.
	op := newBrowser()
	req, _ := http.NewRequest(http.MethodGet, sb.public+"/", nil)
	for k, v := range map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"} {
		req.Header.Set(k, v)
	}
	resp, err := op.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	home, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(home), `id="account-`+u.ID+`"`) {
		t.Fatalf("a loopback browser's navigation does not show the accounts:\n%s", home)
	}
	_, confirm := get(t, op, sb.public+"/accounts/"+u.ID+"/revoke")
	if _, held := sb.b.Provider().User(u.ID); !held || !strings.Contains(confirm, "twitchdev") {
		t.Fatalf("GET revoke: held=%v\n%s", held, confirm)
	}
	r, ok := sb.submitForm(t, op, confirm, "/accounts/"+u.ID+"/revoke")
	if !ok || r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/?done=revoked" {
		t.Fatalf("the confirmation's form: %v %v\n%s", ok, r, confirm)
	}
	if _, held := sb.b.Provider().User(u.ID); held {
		t.Fatal("the confirmed revoke kept the account")
	}
	if !strings.Contains(sb.logs.String(), "by=loopback") {
		t.Errorf("the revoke is not logged as the loopback operator's:\n%s", sb.logs.String())
	}
}

// TestAttackRefusedSecretNotInstalled: a client secret Twitch refuses is
// never installed (before the fix the typo became the secret and every
// renewal failed), and trailing data after the JSON object is refused.
func TestAttackRefusedSecretNotInstalled(t *testing.T) {
	sb := newSecBroker(t)
	a := newBrowser()
	get(t, a, sb.startSignIn(t, a, "twitchdev"))
	u, _ := sb.rs.User("twitchdev")
	call := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, sb.public+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+sb.admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := call("PUT", "/v1/admin/client-secret", `{"client_secret":"typo"}`)
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "not installed") || strings.Contains(body, "PUT it to /v1/admin/client-secret") {
		t.Errorf("a refused secret: %d %s, want 422 saying it was not installed", st, body)
	}
	if st, body := call("POST", "/v1/token/user/"+u.ID+"/refresh", ""); st != http.StatusOK {
		t.Errorf("a renewal after a refused secret: %d %s (the typo was installed)", st, body)
	}
	if !strings.Contains(sb.logs.String(), "not installed") {
		t.Errorf("the refusal is not logged:\n%s", sb.logs.String())
	}
	for _, b := range []string{
		fmt.Sprintf(`{"client_secret":%q} trailing`, sb.secret),
		fmt.Sprintf(`{"client_secret":%q}{"client_secret":"typo"}`, sb.secret),
		`{"client_secret":"typo"} {}`,
	} {
		if st, resp := call("PUT", "/v1/admin/client-secret", b); st != http.StatusBadRequest || !json.Valid([]byte(resp)) {
			t.Errorf("PUT %q: %d %s, want a JSON 400", strings.ReplaceAll(b, sb.secret, "<secret>"), st, resp)
		}
	}
	if st, body := call("POST", "/v1/token/user/"+u.ID+"/refresh", ""); st != http.StatusOK {
		t.Errorf("a renewal after the refused PUTs: %d %s", st, body)
	}
	if st, body := call("PUT", "/v1/admin/client-secret", fmt.Sprintf(`{"client_secret":%q}`, sb.secret)); st != http.StatusOK {
		t.Errorf("the right secret: %d %s", st, body)
	}
}

// TestAttackLoginLooksLikeID: a user whose login is all digits is not
// returned for /v1/token/user/<digits> when no user has that ID (before
// the fix, the digits matched the login); login:NAME asks by login.
func TestAttackLoginLooksLikeID(t *testing.T) {
	sb := newSecBroker(t)
	digits, err := sb.rs.AddUser(twitchtest.User{Login: "31337000"})
	if err != nil {
		t.Fatal(err)
	}
	a := newBrowser()
	get(t, a, sb.startSignIn(t, a, digits.Login))
	call := func(path, subject string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, sb.public+path, nil)
		req.Header.Set("Authorization", "Bearer "+sb.admin)
		if subject != "" {
			req.Header.Set(broker.SubjectHeader, subject)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := call("/v1/token/user/"+digits.Login, ""); st != http.StatusNotFound || !strings.Contains(body, "login:"+digits.Login) {
		t.Errorf("/v1/token/user/%s (a login, not an ID): %d %s, want 404 pointing to login:%s", digits.Login, st, body, digits.Login)
	}
	for _, p := range []string{"/v1/token/user/login:" + digits.Login, "/v1/token/user/" + digits.ID} {
		if st, body := call(p, ""); st != http.StatusOK || !strings.Contains(body, `"user_id":"`+digits.ID+`"`) {
			t.Errorf("%s: %d %s", p, st, body)
		}
	}
	if st, body := call("/helix/users", "user:"+digits.Login); st != http.StatusNotFound {
		t.Errorf("Twitch-Subject user:%s: %d %s, want 404", digits.Login, st, body)
	}
	if st, body := call("/helix/users", "user:login:"+digits.Login); st != http.StatusOK || !strings.Contains(body, digits.ID) {
		t.Errorf("Twitch-Subject user:login:%s: %d %s", digits.Login, st, body)
	}
}

// TestAttackWrongMethodsAndStaticListing: a known route asked with another
// method answers 405 with Allow (it used to be a 404), and /static/ does
// not list its directory.
func TestAttackWrongMethodsAndStaticListing(t *testing.T) {
	sb := newSecBroker(t)
	for _, c := range []struct{ method, path, allow string }{
		{"POST", "/v1/token/app", "GET"},
		{"DELETE", "/v1/token/user/12345", "GET"},
		{"GET", "/v1/admin/client-secret", "PUT"},
		{"DELETE", "/healthz", "GET"},
		{"POST", "/metrics", "GET"},
		{"PUT", "/signin", "GET"},
		{"DELETE", "/login", "POST"},
		{"GET", "/logout", "POST"},
	} {
		req, _ := http.NewRequest(c.method, sb.public+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+sb.admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), c.allow) {
			t.Errorf("%s %s: %d Allow=%q, want 405 allowing %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), c.allow)
		}
		if strings.HasPrefix(c.path, "/v1/") && !json.Valid(body) {
			t.Errorf("%s %s: the 405 is not JSON: %s", c.method, c.path, body)
		}
	}
	for _, p := range []string{"/static/", "/static", "/static/."} {
		resp, body := get(t, newBrowser(), sb.public+p)
		if resp.StatusCode == http.StatusOK || strings.Contains(body, "style.css") {
			t.Errorf("GET %s: %d, lists the directory: %v", p, resp.StatusCode, strings.Contains(body, "style.css"))
		}
	}
	if resp, _ := get(t, newBrowser(), sb.public+"/static/style.css"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /static/style.css: %d", resp.StatusCode)
	}
}
