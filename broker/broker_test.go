package broker

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// env is a broker wired to a sandbox, for tests.
type env struct {
	t      testing.TB
	sb     *twitchtest.Server
	client twitchtest.Client
	b      *Broker
	srv    *httptest.Server
	keys   map[Perm]string // one key per permission
	admin  string
	store  *store.Memory
}

type envOption func(*Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	return newEnvSandbox(t, nil, opts...)
}

func newEnvSandbox(t testing.TB, sbOpts []twitchtest.Option, opts ...envOption) *env {
	t.Helper()
	return newEnvWith(t, twitchtest.NewServer(t, sbOpts...), opts...)
}

// newEnvWith is newEnvSandbox with a sandbox the caller made.
func newEnvWith(t testing.TB, sb *twitchtest.Server, opts ...envOption) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close)
	public := "http://" + srv.Listener.Addr().String()
	cl, err := sb.AddClient(twitchtest.Client{Name: "broker test", RedirectURIs: []string{public + "/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, sb: sb, client: cl, srv: srv, keys: map[Perm]string{}, store: store.NewMemory()}
	var apiKeys []APIKey
	for _, p := range AllPerms {
		k := GenerateKey()
		e.keys[p] = k
		apiKeys = append(apiKeys, APIKey{Name: "k-" + strings.ReplaceAll(string(p), ":", "-"), SHA256: HashKey(k), Perms: []Perm{p}})
	}
	e.admin = e.keys[PermAdmin]
	ks, err := NewKeySet(apiKeys...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Twitch: &twitchauth.Config{
			ClientID: cl.ID, ClientSecret: cl.Secret, Scopes: []string{"chat:read", "user:read:email"},
			Endpoints: twitchauth.Endpoints{IDURL: sb.IDURL(), APIURL: sb.APIURL()},
		},
		Store:     e.store,
		PublicURL: public,
		Keys:      ks,
	}
	for _, o := range opts {
		o(&cfg)
	}
	b, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.b = b
	srv.Config.Handler = b.Handler()
	srv.Start()
	return e
}

// browser is an HTTP client with its own cookie jar that does not follow
// redirects, so that tests see each hop.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// startLogin runs /authorize in c and returns the sandbox consent URL.
func (e *env) startLogin(c *http.Client, path string) string {
	e.t.Helper()
	resp, err := c.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("GET %s: status %d, want 302", path, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// operatorBrowser returns a browser signed in with the admin key.
func (e *env) operatorBrowser() *http.Client {
	e.t.Helper()
	c := e.browser()
	resp, err := c.PostForm(e.srv.URL+"/login", url.Values{"key": {e.admin}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("operator sign-in: %d", resp.StatusCode)
	}
	return c
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token the operator's pages give browser c.
func (e *env) csrf(c *http.Client) string {
	e.t.Helper()
	resp, err := c.Get(e.srv.URL + "/")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		e.t.Fatalf("no CSRF token on the accounts page:\n%s", page)
	}
	return string(m[1])
}

// connect signs login in through the sandbox and returns the callback
// response.
func (e *env) connect(c *http.Client, login string) *http.Response {
	e.t.Helper()
	authURL := e.startLogin(c, "/authorize")
	cb, err := e.sb.Authorize(authURL, login)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := c.Get(cb.String())
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func (e *env) do(method, path, key string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func decode[T any](t testing.TB, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return v
}

func sandboxUser(t testing.TB, sb *twitchtest.Server, i int) twitchtest.User {
	t.Helper()
	us := sb.Users()
	if len(us) <= i {
		t.Fatalf("the sandbox has %d users", len(us))
	}
	return us[i]
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
