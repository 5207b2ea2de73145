package reliability

import (
	"bytes"
	"encoding/json"
	"io"
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
}

func newSecBroker(t *testing.T) *secBroker {
	ctx := testCtx(t, time.Minute)
	bsrv := httptest.NewUnstartedServer(nil)
	public := "http://" + bsrv.Listener.Addr().String()
	rs := newRecordingSandbox(t, twitchtest.WithClient(twitchtest.Client{Name: "sec", Type: twitchtest.Confidential,
		RedirectURIs: []string{public + "/callback"}}))
	cl := rs.DefaultClient()
	dir := filepath.Join(t.TempDir(), "data")
	dbPath := filepath.Join(dir, "broker.db")
	st, err := sqlite.Open(ctx, dbPath, sqlite.WithKeyFile(dbPath+".key"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sb := &secBroker{rs: rs, public: public, admin: broker.GenerateKey(), reader: broker.GenerateKey(), dbPath: dbPath}
	ks, err := broker.NewKeySet(
		broker.APIKey{Name: "admin", SHA256: broker.HashKey(sb.admin), Perms: []broker.Perm{broker.PermAdmin}},
		broker.APIKey{Name: "reader", SHA256: broker.HashKey(sb.reader), Perms: []broker.Perm{broker.PermUsersRead}},
	)
	if err != nil {
		t.Fatal(err)
	}
	sb.b, err = broker.New(ctx, broker.Config{
		Twitch: &twitchauth.Config{ClientID: cl.ID, ClientSecret: cl.Secret, Scopes: []string{"chat:read"},
			Endpoints: twitchauth.Endpoints{IDURL: rs.IDURL(), APIURL: rs.APIURL()}},
		Store: st, PublicURL: public, Keys: ks,
	})
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
	if resp, _ := get(t, a, cb); resp.StatusCode != http.StatusOK {
		t.Fatalf("first callback: %d", resp.StatusCode)
	}
	// Replay of a used callback, by the same browser and by another one.
	for name, c := range map[string]*http.Client{"same browser": a, "other browser": other} {
		if resp, _ := get(t, c, cb); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("replayed callback (%s): %d, want 400", name, resp.StatusCode)
		}
	}
	// A callback completed in another browser than the one that started
	// the sign-in is refused, and spends the state.
	cb = sb.startSignIn(t, a, "broadcaster")
	if resp, body := get(t, other, cb); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "another browser") {
		t.Errorf("cross-session callback: %d", resp.StatusCode)
	}
	if resp, _ := get(t, a, cb); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback after a cross-session attempt: %d, want 400 (the state is spent)", resp.StatusCode)
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
	if n := len(sb.b.Provider().Users()); n != 1 {
		t.Errorf("%d accounts connected, want only the first sign-in's", n)
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
		{"GET", "/v1/token/intent/chat"}, {"POST", "/v1/token/user/12345/refresh"}, {"GET", "/v1/users"},
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
var defaultAddrRE = regexp.MustCompile(`--(listen|addr|sandbox-listen|sandbox-addr)\s+string\s.*\(default "([^"]+)"\)`)

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
