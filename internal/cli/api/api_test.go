package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/clitest"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/sqlite"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// testSecret is the sandbox client's secret: no output may contain it.
const testSecret = "api-test-client-secret-0123456789abcdef"

const banScope = "moderator:manage:banned_users"

type harness struct {
	t      *testing.T
	srv    *twitchtest.Server
	client twitchtest.Client
	env    map[string]string
	getenv func(string) string
	// minted are the user tokens seeded by the test: no output may show
	// them either.
	minted []string
}

func newHarness(t *testing.T, opts ...twitchtest.Option) *harness {
	t.Helper()
	c := twitchtest.Client{ID: "apiclient0123456789abcdefghijk", Secret: testSecret, Name: "api test",
		RedirectURIs: []string{"http://localhost:3000"}}
	srv := twitchtest.NewServer(t, append([]twitchtest.Option{twitchtest.WithClient(c)}, opts...)...)
	h := &harness{t: t, srv: srv, client: c}
	h.getenv, _, h.env = clitest.Env(t, map[string]string{
		config.EnvClientID:     c.ID,
		config.EnvClientSecret: c.Secret,
		config.EnvIDURL:        srv.IDURL(),
		config.EnvAPIURL:       srv.APIURL(),
	})
	return h
}

func (h *harness) storePath() string {
	p, err := config.StorePath(h.getenv)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *harness) cfg() *twitchauth.Config {
	return &twitchauth.Config{ClientID: h.client.ID, ClientSecret: h.client.Secret,
		Endpoints: twitchauth.Endpoints{IDURL: h.srv.IDURL(), APIURL: h.srv.APIURL()}}
}

// withStore opens the command's token store (same file, same key file) and
// a Provider on it.
func (h *harness) withStore(fn func(st *sqlite.Store, p *provider.Provider)) {
	h.t.Helper()
	ctx := context.Background()
	path := h.storePath()
	st, err := sqlite.Open(ctx, path, sqlite.Config{Key: store.KeyConfig{File: path + sqlite.KeyFileSuffix}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		h.t.Fatal(err)
	}
	defer st.Close()
	p, err := provider.New(ctx, provider.Config{OAuth: h.cfg(), Store: st})
	if err != nil {
		h.t.Fatal(err)
	}
	fn(st, p)
}

// seedUser mints a user token in the sandbox and stores it as
// `twitchauth token -u` would; it returns the access token.
func (h *harness) seedUser(login string, scopes ...string) string {
	h.t.Helper()
	access, refresh, err := h.srv.MintUserToken(h.client.ID, login, scopes)
	if err != nil {
		h.t.Fatal(err)
	}
	h.minted = append(h.minted, access, refresh)
	h.withStore(func(_ *sqlite.Store, p *provider.Provider) {
		if _, err := p.AddUserToken(context.Background(), &twitchauth.Token{AccessToken: access, RefreshToken: refresh}); err != nil {
			h.t.Fatal(err)
		}
	})
	return access
}

// storedTokens returns every access and refresh token in the store.
func (h *harness) storedTokens() []string {
	var out []string
	if _, err := os.Stat(h.storePath()); err != nil {
		return nil
	}
	h.withStore(func(st *sqlite.Store, _ *provider.Provider) {
		recs, err := st.List(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		for _, r := range recs {
			out = append(out, r.AccessToken, r.RefreshToken)
		}
	})
	return out
}

type outcome struct {
	stdout, stderr string
	code           int
	err            error
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *cliutil.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return -1
}

// run runs the command in-process and checks that no secret or token
// appears in its output.
func (h *harness) run(o Options, stdin string) outcome {
	h.t.Helper()
	var out, errOut bytes.Buffer
	f := &cliutil.Factory{IO: &cliutil.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut},
		Getenv: h.getenv, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	o.Factory = f
	err := Run(ctx, &o)
	res := outcome{stdout: out.String(), stderr: errOut.String(), code: exitCode(err), err: err}
	if err != nil {
		res.stderr += "error: " + err.Error() + "\n"
	}
	all := res.stdout + res.stderr
	if strings.Contains(all, testSecret) {
		h.t.Fatalf("the client secret leaked:\nstdout: %s\nstderr: %s", res.stdout, res.stderr)
	}
	for _, tok := range append(h.storedTokens(), h.minted...) {
		if tok != "" && strings.Contains(all, tok) {
			h.t.Fatalf("a token leaked:\nstdout: %s\nstderr: %s", res.stdout, res.stderr)
		}
	}
	return res
}

func wantCode(t *testing.T, res outcome, code int) {
	t.Helper()
	if res.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", res.code, code, res.stdout, res.stderr)
	}
}

type listAnswer struct {
	Data       []map[string]any `json:"data"`
	Pagination map[string]any   `json:"pagination"`
}

func decodeList(t *testing.T, s string) listAnswer {
	t.Helper()
	var a listAnswer
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		t.Fatalf("stdout is not a JSON list: %v\n%s", err, s)
	}
	return a
}

// direct calls the sandbox's Helix without the command, for expected
// answers.
func (h *harness) direct(path string, q url.Values) []byte {
	h.t.Helper()
	tok, err := h.srv.MintAppToken(h.client.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, h.srv.APIURL()+"/"+path+"?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Client-Id", h.client.ID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		h.t.Fatalf("direct GET %s: %d %v", path, resp.StatusCode, err)
	}
	var buf bytes.Buffer
	json.Compact(&buf, body.Data)
	return buf.Bytes()
}

func compactData(t *testing.T, stdout string) []byte {
	t.Helper()
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(stdout), &body); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	var buf bytes.Buffer
	json.Compact(&buf, body.Data)
	return buf.Bytes()
}

func TestGetUsersAppToken(t *testing.T) {
	h := newHarness(t)
	res := h.run(Options{Method: "GET", Path: []string{"users"}, Query: []string{"login=twitchdev"}}, "")
	wantCode(t, res, 0)
	want := h.direct("users", url.Values{"login": {"twitchdev"}})
	if got := compactData(t, res.stdout); !bytes.Equal(got, want) {
		t.Errorf("data:\n got %s\nwant %s", got, want)
	}
	u, _ := h.srv.User("twitchdev")
	if a := decodeList(t, res.stdout); len(a.Data) != 1 || a.Data[0]["id"] != u.ID || a.Data[0]["login"] != "twitchdev" {
		t.Errorf("answer %+v", a)
	}
	if !strings.HasPrefix(res.stdout, "{\n  \"data\": [\n") || res.stderr != "" {
		t.Errorf("not pretty-printed, or stderr not empty:\n%s\nstderr: %s", res.stdout, res.stderr)
	}

	// The app token is kept in the store: the next call, --raw, mints none.
	if n := h.srv.Requests("token:client_credentials"); n != 1 { // MintAppToken is not a request
		t.Fatalf("client_credentials requests %d", n)
	}
	before := h.srv.Requests("token:client_credentials")
	res = h.run(Options{Method: "GET", Path: []string{"/users?login=twitchdev"}, JSON: true}, "")
	wantCode(t, res, 0)
	if h.srv.Requests("token:client_credentials") != before {
		t.Error("the stored app token was not reused")
	}
	if strings.Count(res.stdout, "\n") != 1 || !bytes.Equal(compactData(t, res.stdout), want) {
		t.Errorf("--raw output:\n%s", res.stdout)
	}

	// --no-store fetches a token for this call only.
	res = h.run(Options{Method: "GET", Path: []string{"helix", "users"}, Query: []string{"login=twitchdev"}, NoStore: true}, "")
	wantCode(t, res, 0)
	if h.srv.Requests("token:client_credentials") != before+1 {
		t.Error("--no-store did not fetch its own app token")
	}

	// -v: request line, status and rate-limit headers on stderr, no token.
	res = h.run(Options{Method: "GET", Path: []string{"users"}, Query: []string{"login=twitchdev", "login=broadcaster"}, Verbose: true}, "")
	wantCode(t, res, 0)
	for _, s := range []string{"> GET " + h.srv.APIURL() + "/users?login=twitchdev&login=broadcaster (app access token)",
		"< HTTP 200 OK", "< Ratelimit-Limit: 800, Ratelimit-Remaining: "} {
		if !strings.Contains(res.stderr, s) {
			t.Errorf("-v stderr lacks %q:\n%s", s, res.stderr)
		}
	}
	if a := decodeList(t, res.stdout); len(a.Data) != 2 {
		t.Errorf("two logins gave %d users", len(a.Data))
	}
}

func TestUserToken(t *testing.T) {
	h := newHarness(t)
	h.seedUser("twitchdev", banScope)
	res := h.run(Options{Method: "GET", Path: []string{"users"}, User: true, Verbose: true}, "")
	wantCode(t, res, 0)
	if a := decodeList(t, res.stdout); len(a.Data) != 1 || a.Data[0]["login"] != "twitchdev" {
		t.Errorf("GET users with the user token: %s", res.stdout)
	}
	if !strings.Contains(res.stderr, "(user token of twitchdev (") {
		t.Errorf("-v does not say which token: %s", res.stderr)
	}

	// Ban with the scope: 200 and the ban; the same ban again is refused.
	dev, _ := h.srv.User("twitchdev")
	victim, _ := h.srv.User("viewer")
	ban := Options{Method: "POST", Path: []string{"moderation", "bans"}, User: true,
		Query: []string{"broadcaster_id=" + dev.ID, "moderator_id=" + dev.ID},
		Body:  `{"data":{"user_id":"` + victim.ID + `","reason":"spam"}}`}
	res = h.run(ban, "")
	wantCode(t, res, 0)
	a := decodeList(t, res.stdout)
	if len(a.Data) != 1 || a.Data[0]["user_id"] != victim.ID || a.Data[0]["broadcaster_id"] != dev.ID {
		t.Errorf("ban answer: %s", res.stdout)
	}
	res = h.run(ban, "")
	wantCode(t, res, 1)
	if !strings.Contains(res.stdout, `"status": 400`) || !strings.Contains(res.stderr, "HTTP 400") {
		t.Errorf("second ban: stdout %s stderr %s", res.stdout, res.stderr)
	}
	// DELETE unbans (204: nothing on stdout); the body from stdin bans again.
	res = h.run(Options{Method: "DELETE", Path: []string{"moderation/bans"}, User: true,
		Query: []string{"broadcaster_id=" + dev.ID, "moderator_id=" + dev.ID, "user_id=" + victim.ID}}, "")
	wantCode(t, res, 0)
	if res.stdout != "" || !strings.Contains(res.stderr, "204") {
		t.Errorf("unban: stdout %q stderr %q", res.stdout, res.stderr)
	}
	ban.Body = "-"
	res = h.run(ban, `{"data":{"user_id":"`+victim.ID+`"}}`)
	wantCode(t, res, 0)

	// A scope the grant lacks: refused before sending (the Transport knows
	// the stored grant's scopes), exit 1, the scopes to ask for named, no
	// request and no refresh.
	refreshes, helixCalls := h.srv.Requests("token:refresh_token"), h.srv.Requests("helix")
	res = h.run(Options{Method: "GET", Path: []string{"moderation/moderators"}, User: true, Query: []string{"broadcaster_id=" + dev.ID}}, "")
	wantCode(t, res, 1)
	if !strings.Contains(res.stderr, "needs moderation:read or channel:manage:moderators") || !strings.Contains(res.stderr, "not sent") || res.stdout != "" {
		t.Errorf("missing scope: stdout %s stderr %s", res.stdout, res.stderr)
	}
	if h.srv.Requests("token:refresh_token") != refreshes || h.srv.Requests("helix") != helixCalls {
		t.Error("a missing scope caused a refresh or a request")
	}
	// --no-scope-check sends it: Helix's 401 is shown, still no refresh.
	res = h.run(Options{Method: "GET", Path: []string{"moderation/moderators"}, User: true, NoScopeCheck: true, Query: []string{"broadcaster_id=" + dev.ID}}, "")
	wantCode(t, res, 1)
	if !strings.Contains(res.stderr, "Missing scope") || !strings.Contains(res.stdout, `"status": 401`) || h.srv.Requests("helix") != helixCalls+1 {
		t.Errorf("--no-scope-check: stdout %s stderr %s", res.stdout, res.stderr)
	}
	if h.srv.Requests("token:refresh_token") != refreshes {
		t.Error("a missing scope caused a refresh")
	}
}

func TestRefreshOn401(t *testing.T) {
	h := newHarness(t)
	access := h.seedUser("twitchdev")
	h.srv.ExpireAccessToken(access)
	res := h.run(Options{Method: "GET", Path: []string{"users"}, User: true, Verbose: true}, "")
	wantCode(t, res, 0)
	if a := decodeList(t, res.stdout); len(a.Data) != 1 || a.Data[0]["login"] != "twitchdev" {
		t.Errorf("after refresh: %s", res.stdout)
	}
	if h.srv.Requests("token:refresh_token") != 1 || !strings.Contains(res.stderr, "refreshed") {
		t.Errorf("refreshes %d; stderr %s", h.srv.Requests("token:refresh_token"), res.stderr)
	}
	if toks := h.storedTokens(); slices.Contains(toks, access) {
		t.Error("the refreshed token was not stored")
	}

	// A grant the user revoked cannot be refreshed: exit 1, log in again.
	dev, _ := h.srv.User("twitchdev")
	h.srv.RevokeGrant(h.client.ID, dev.ID)
	res = h.run(Options{Method: "GET", Path: []string{"users"}, User: true}, "")
	wantCode(t, res, 1)
	if !strings.Contains(res.stderr, "twitchauth token -u") {
		t.Errorf("revoked grant: %s", res.stderr)
	}
}

func TestAutopaginate(t *testing.T) {
	h := newHarness(t)
	all := h.direct("streams", url.Values{"first": {"100"}})
	var live []json.RawMessage
	json.Unmarshal(all, &live)
	if len(live) < 3 {
		t.Fatalf("the sandbox has %d live streams", len(live))
	}
	h.srv.ResetCounters()
	res := h.run(Options{Method: "GET", Path: []string{"streams"}, Query: []string{"first=1"}, Paginate: true, Pages: 0}, "")
	wantCode(t, res, 0)
	if got := compactData(t, res.stdout); !bytes.Equal(got, all) {
		t.Errorf("merged pages:\n got %s\nwant %s", got, all)
	}
	if a := decodeList(t, res.stdout); len(a.Pagination) != 0 {
		t.Errorf("pagination after the last page: %v", a.Pagination)
	}
	if n := h.srv.Requests("helix:GET /streams"); n != len(live) {
		t.Errorf("%d pages fetched for %d items", n, len(live))
	}

	// Bounded: two pages, the cursor to continue from, and a note.
	res = h.run(Options{Method: "GET", Path: []string{"streams"}, Query: []string{"first=1"}, Paginate: true, Pages: 2}, "")
	wantCode(t, res, 0)
	a := decodeList(t, res.stdout)
	cursor, _ := a.Pagination["cursor"].(string)
	if len(a.Data) != 2 || cursor == "" || !strings.Contains(res.stderr, "after="+cursor) {
		t.Fatalf("-P=2: %d items, cursor %q, stderr %s", len(a.Data), cursor, res.stderr)
	}
	// Continuing from it gives the rest.
	res = h.run(Options{Method: "GET", Path: []string{"streams"}, Query: []string{"first=1", "after=" + cursor}, Paginate: true}, "")
	wantCode(t, res, 0)
	if b := decodeList(t, res.stdout); len(b.Data) != len(live)-2 {
		t.Errorf("continuation: %d items", len(b.Data))
	}

	// A single object is printed as is.
	res = h.run(Options{Method: "GET", Path: []string{"users"}, Query: []string{"login=twitchdev"}, Paginate: true}, "")
	wantCode(t, res, 0)
	if a := decodeList(t, res.stdout); len(a.Data) != 1 {
		t.Errorf("paginated users: %s", res.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "body.json")
	os.WriteFile(good, []byte(`{"data":{"user_id":"1"}}`), 0o600)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"data":`), 0o600)
	get := func(o Options) Options {
		if o.Method == "" {
			o.Method = "GET"
		}
		if o.Path == nil {
			o.Path = []string{"users"}
		}
		return o
	}
	for _, c := range []struct {
		name  string
		o     Options
		stdin string
		want  string
	}{
		{"bad JSON", get(Options{Method: "POST", Body: `{"data": {user_id: 1}}`}), "", "not valid JSON: invalid character 'u'"},
		{"two values", get(Options{Method: "POST", Body: `{} {}`}), "", "more than one JSON value"},
		{"bad file", get(Options{Method: "POST", Body: "@" + bad}), "", "ends too soon"},
		{"missing file", get(Options{Method: "POST", Body: "@" + filepath.Join(dir, "nope.json")}), "", "no such file"},
		{"empty stdin", get(Options{Method: "POST", Body: "-"}), "", "it is empty"},
		{"query without =", get(Options{Query: []string{"login"}}), "", "write key=value"},
		{"dot dot", get(Options{Path: []string{"../oauth2/token"}}), "", `"." and ".." are not allowed`},
		{"other host", get(Options{Path: []string{"https://evil.example/helix/users"}}), "", "not under the API base URL"},
		{"no endpoint", get(Options{Path: []string{"/"}}), "", "names no endpoint"},
		{"paginate post", get(Options{Method: "POST", Paginate: true}), "", "only applies to get"},
		{"login without -u", get(Options{Login: "twitchdev"}), "", "add -u"},
		{"no-store with -u", get(Options{User: true, NoStore: true}), "", "--no-store"},
		{"method", get(Options{Method: "TRACE"}), "", "use get, post"},
		{"no user stored", get(Options{User: true}), "", "twitchauth token -u"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := h.run(c.o, c.stdin)
			wantCode(t, res, 2)
			if !strings.Contains(res.stderr, c.want) || res.stdout != "" {
				t.Errorf("stderr %q lacks %q (stdout %q)", res.stderr, c.want, res.stdout)
			}
		})
	}
	if n := h.srv.Requests("helix"); n != 0 {
		t.Errorf("%d Helix requests were sent for refused input", n)
	}
	// A body from a file is sent (the sandbox refuses this ban for lack of
	// a user token, after the Transport's one retry on a 401).
	res := h.run(get(Options{Method: "POST", Path: []string{"moderation/bans"}, Body: "@" + good}), "")
	wantCode(t, res, 1)
	if h.srv.Requests("helix:POST /moderation/bans") < 1 {
		t.Errorf("the body from a file was not sent: %d; %+v", h.srv.Requests("helix:POST /moderation/bans"), res)
	}
}

func TestSeveralUsers(t *testing.T) {
	h := newHarness(t)
	h.seedUser("twitchdev")
	h.seedUser("broadcaster")
	res := h.run(Options{Method: "GET", Path: []string{"users"}, User: true}, "")
	wantCode(t, res, 2)
	if !strings.Contains(res.stderr, "broadcaster, twitchdev") || !strings.Contains(res.stderr, "--login") {
		t.Errorf("ambiguous user: %s", res.stderr)
	}
	res = h.run(Options{Method: "GET", Path: []string{"users"}, User: true, Login: "BROADCASTER"}, "")
	wantCode(t, res, 0)
	if a := decodeList(t, res.stdout); len(a.Data) != 1 || a.Data[0]["login"] != "broadcaster" {
		t.Errorf("--login broadcaster: %s", res.stdout)
	}
	res = h.run(Options{Method: "GET", Path: []string{"users"}, User: true, Login: "viewer"}, "")
	wantCode(t, res, 2)
	if !strings.Contains(res.stderr, "no user token of viewer") {
		t.Errorf("unknown login: %s", res.stderr)
	}
}

func TestConfigurationAndNetwork(t *testing.T) {
	h := newHarness(t)
	delete(h.env, config.EnvClientID)
	delete(h.env, config.EnvClientSecret)
	res := h.run(Options{Method: "GET", Path: []string{"users"}}, "")
	wantCode(t, res, 2)
	if !strings.Contains(res.stderr, "twitchauth configure") || !strings.Contains(res.stderr, "client ID and a client secret") {
		t.Errorf("no configuration: %s", res.stderr)
	}
	res = h.run(Options{Method: "GET", Path: []string{"users"}, User: true}, "")
	wantCode(t, res, 2)
	if !strings.Contains(res.stderr, "client ID") {
		t.Errorf("no configuration with -u: %s", res.stderr)
	}

	// A wrong secret: the app token is refused (exit 1).
	h.env[config.EnvClientID] = h.client.ID
	res = h.run(Options{Method: "GET", Path: []string{"users"}, Secret: "wrong-secret-value"}, "")
	wantCode(t, res, 1)
	if !strings.Contains(res.stderr, "invalid client secret") {
		t.Errorf("wrong secret: %s", res.stderr)
	}

	// Nothing listens on the API URL: exit 3.
	h.env[config.EnvClientSecret] = h.client.Secret
	h.env[config.EnvAPIURL] = "http://" + clitest.RefusedAddr(t) + "/helix"
	res = h.run(Options{Method: "GET", Path: []string{"users"}, Query: []string{"login=twitchdev"}}, "")
	wantCode(t, res, 3)
	if !strings.Contains(res.stderr, "Helix GET /helix/users") || !strings.Contains(res.stderr, "refused") {
		t.Errorf("network failure: %s", res.stderr)
	}
}

// Two applications using one token store keep their app tokens apart:
// each call sends its own application's token, and both stay stored.
func TestAppTokenOfAnotherClient(t *testing.T) {
	other := twitchtest.Client{ID: "otherclient0123456789abcdefghi", Secret: "other-client-secret-0123456789", Name: "other",
		RedirectURIs: []string{"http://localhost:3000"}}
	h := newHarness(t, twitchtest.WithClient(other))
	res := h.run(Options{Method: "GET", Path: []string{"users"}, Query: []string{"login=twitchdev"}}, "")
	wantCode(t, res, 0)
	res = h.run(Options{Method: "GET", Path: []string{"users"}, Query: []string{"login=twitchdev"},
		ClientID: other.ID, Secret: other.Secret, Verbose: true}, "")
	wantCode(t, res, 0)
	res = h.run(Options{Method: "GET", Path: []string{"users"}, Query: []string{"login=twitchdev"}}, "")
	wantCode(t, res, 0)
	if n := h.srv.Requests("token:client_credentials"); n != 2 {
		t.Errorf("%d app tokens fetched for two applications over three calls; want 2 (each stored)", n)
	}
	h.withStore(func(st *sqlite.Store, _ *provider.Provider) {
		for _, id := range []string{h.client.ID, other.ID} {
			rec, err := st.Load(context.Background(), store.GrantKey(id, store.AppKey()))
			if err != nil || rec.ClientID != id {
				t.Errorf("stored app token of %s: client %q, %v", id, rec.ClientID, err)
			}
		}
	})
}

// TestHelixErrorAsHelix: a refused call surfaces the *twitchauth.HelixError
// Helix itself answered (its status, "error" and "message" fields, the
// method and path), the same error twitchauth.Helix.Do returns for the same
// call, and prints Helix's body.
func TestHelixErrorAsHelix(t *testing.T) {
	h := newHarness(t)
	// What Helix answers, read raw.
	tok, err := h.srv.MintAppToken(h.client.ID)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, h.srv.APIURL()+"/users", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Client-Id", h.client.ID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var wire struct {
		Error   string `json:"error"`
		Status  int    `json:"status"`
		Message string `json:"message"`
	}
	err = json.NewDecoder(resp.Body).Decode(&wire)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusBadRequest || wire.Message == "" || wire.Error == "" {
		t.Fatalf("raw GET /users: %d %+v %v; want a 400 with Helix's error body", resp.StatusCode, wire, err)
	}
	// What the library's Helix client returns for it.
	hx := twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: h.cfg(), Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok})}))
	libErr := hx.Get(context.Background(), "users", nil, nil)

	res := h.run(Options{Method: "GET", Path: []string{"users"}}, "")
	wantCode(t, res, 1)
	var he *twitchauth.HelixError
	if !errors.As(res.err, &he) {
		t.Fatalf("the command's error is %T %v; want a *twitchauth.HelixError", res.err, res.err)
	}
	want := twitchauth.HelixError{Method: "GET", Path: "/helix/users", Status: wire.Status, Reason: wire.Error, Message: wire.Message}
	if *he != want {
		t.Errorf("the command's HelixError:\n got %+v\nwant %+v (Helix's answer)", *he, want)
	}
	if libErr == nil || res.err.Error() != libErr.Error() {
		t.Errorf("the command says %q; Helix.Do says %v", res.err, libErr)
	}
	if !strings.Contains(res.stdout, wire.Message) {
		t.Errorf("Helix's body is not printed: %q", res.stdout)
	}
}
