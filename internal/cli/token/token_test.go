package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/clitest"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// testSecret is the sandbox client's secret: no output may contain it.
const testSecret = "sekrit-sandbox-client-secret-0123456789"

type harness struct {
	t      *testing.T
	srv    *twitchtest.Server
	client twitchtest.Client
	port   int // the registered redirect URI's, held by ports
	ports  *clitest.Ports
	env    map[string]string
	getenv func(string) string

	// browser is what OpenBrowser does with the URL (default: visit it).
	browser func(ctx context.Context, u string) (*clitest.Page, error)
	opened  atomic.Int32
	pages   chan *clitest.Page
}

func newHarness(t *testing.T, opts ...twitchtest.Option) *harness {
	t.Helper()
	ports := clitest.NewPorts(t)
	port := ports.Reserve()
	c := twitchtest.Client{
		ID: "cliclient0123456789abcdefghijk", Secret: testSecret, Name: "cli test",
		RedirectURIs: []string{fmt.Sprintf("http://localhost:%d", port)},
	}
	all := append([]twitchtest.Option{
		twitchtest.WithClient(c),
		twitchtest.WithAutoApprove("twitchdev"),
		twitchtest.WithDeviceInterval(time.Second),
	}, opts...)
	srv := twitchtest.NewServer(t, all...)
	h := &harness{t: t, srv: srv, client: c, port: port, ports: ports, pages: make(chan *clitest.Page, 4)}
	h.getenv, _, h.env = clitest.Env(t, map[string]string{
		config.EnvClientID:     c.ID,
		config.EnvClientSecret: c.Secret,
		config.EnvIDURL:        srv.IDURL(),
		config.EnvAPIURL:       srv.APIURL(),
	})
	h.browser = clitest.Visit
	return h
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

// run runs the command in-process. The harness's port is used unless o
// names one.
func (h *harness) run(o Options) outcome {
	h.t.Helper()
	if o.Port == 0 {
		o.Port = h.port
	}
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	f, out, errOut := cliutil.NewTestFactory(nil, "")
	*f = cliutil.Factory{
		IO:     f.IO,
		Getenv: h.getenv,
		OpenBrowser: func(ctx context.Context, u string) error {
			h.opened.Add(1)
			go func() {
				p, err := h.browser(context.Background(), u)
				if err != nil {
					p = &clitest.Page{Body: "browser error: " + err.Error()}
				}
				h.pages <- p
			}()
			return nil
		},
		Logger: slog.New(slog.DiscardHandler),
		Listen: h.ports.Listen,
	}
	o.Factory = f
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	err := Run(ctx, &o)
	res := outcome{stdout: out.String(), stderr: errOut.String(), code: exitCode(err), err: err}
	if err != nil {
		res.stderr += "error: " + err.Error() + "\n"
	}
	if strings.Contains(res.stdout+res.stderr, testSecret) {
		h.t.Fatalf("the client secret leaked:\nstdout: %s\nstderr: %s", res.stdout, res.stderr)
	}
	return res
}

func (h *harness) page() *clitest.Page {
	h.t.Helper()
	select {
	case p := <-h.pages:
		return p
	case <-time.After(20 * time.Second):
		h.t.Fatal("the browser never finished")
		return nil
	}
}

func decode(t *testing.T, s string) Result {
	t.Helper()
	var r Result
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not one Result object: %v\n%s", err, s)
	}
	if strings.Count(strings.TrimSpace(s), "\n") != 0 {
		t.Fatalf("stdout holds more than one line: %q", s)
	}
	return r
}

func wantCode(t *testing.T, res outcome, code int) {
	t.Helper()
	if res.code != code {
		t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", res.code, code, res.stdout, res.stderr)
	}
}

func TestAppToken(t *testing.T) {
	h := newHarness(t)
	res := h.run(Options{})
	wantCode(t, res, 0)
	m := regexp.MustCompile(`(?m)^App Access Token: ([a-z0-9]{30})$`).FindStringSubmatch(res.stdout)
	if m == nil {
		t.Fatalf("no app token line in %q", res.stdout)
	}
	if !regexp.MustCompile(`(?m)^Expires At: \d{4}-\d\d-\d\dT`).MatchString(res.stdout) {
		t.Errorf("no expiry line in %q", res.stdout)
	}

	// The token is real: validate it through the command.
	v := h.run(Options{Validate: m[1], JSON: true})
	wantCode(t, v, 0)
	r := decode(t, v.stdout)
	if r.Kind != "app" || r.ClientID != h.client.ID || r.UserID != "" || r.ExpiresIn <= 0 || len(r.Scopes) != 0 {
		t.Errorf("validate of an app token = %+v", r)
	}
	if r.AccessToken != "" {
		t.Error("validate echoed the token")
	}

	j := h.run(Options{JSON: true})
	wantCode(t, j, 0)
	r = decode(t, j.stdout)
	if r.Kind != "app" || r.AccessToken == "" || r.RefreshToken != "" || r.TokenType != "bearer" || r.ClientID != h.client.ID {
		t.Errorf("app token JSON = %+v", r)
	}
	if _, err := time.Parse(time.RFC3339, r.ExpiresAt); err != nil || r.ExpiresIn < 59*24*3600 {
		t.Errorf("expiry %q / %d s, want ~60 days", r.ExpiresAt, r.ExpiresIn)
	}
	if !strings.Contains(j.stdout, `"scopes":[]`) {
		t.Errorf("scopes must be an empty array: %s", j.stdout)
	}
}

func TestCodeFlowThenStoreAnswers(t *testing.T) {
	h := newHarness(t)
	res := h.run(Options{UserToken: true, Scopes: "user:read:email chat:read", JSON: true})
	wantCode(t, res, 0)
	r := decode(t, res.stdout)
	if r.Kind != "user" || r.Login != "twitchdev" || r.UserID == "" || r.RefreshToken == "" || r.Cached {
		t.Fatalf("user token = %+v", r)
	}
	if strings.Join(r.Scopes, " ") != "user:read:email chat:read" && strings.Join(r.Scopes, " ") != "chat:read user:read:email" {
		t.Errorf("scopes = %v", r.Scopes)
	}
	if r.ExpiresIn < 3*3600 || r.ExpiresIn > 4*3600 {
		t.Errorf("expires_in = %d, want about 4 h", r.ExpiresIn)
	}
	p := h.page()
	if p.Status != 200 || !strings.Contains(p.Body, "logged in to Twitch as twitchdev") {
		t.Errorf("browser page %d %q", p.Status, p.Body)
	}
	if p.URL.Host != fmt.Sprintf("localhost:%d", h.port) || (p.URL.Path != "/" && p.URL.Path != "") {
		t.Errorf("redirect URI used %s, want http://localhost:%d", p.URL, h.port)
	}
	if !strings.Contains(res.stderr, "/authorize?") {
		t.Errorf("the authorize URL was not printed: %s", res.stderr)
	}

	// The store file exists, private, with its key beside it.
	db := filepath.Join(h.env["XDG_DATA_HOME"], "twitchauth", "tokens.db")
	for _, f := range []string{db, db + ".key"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", f, st.Mode().Perm())
		}
	}
	raw, _ := os.ReadFile(db)
	if strings.Contains(string(raw), r.AccessToken) || strings.Contains(string(raw), r.RefreshToken) {
		t.Error("the store holds a token in plaintext")
	}

	// The second run answers from the store: no browser, no authorize.
	h.srv.ResetCounters()
	opened := h.opened.Load()
	again := h.run(Options{UserToken: true, Scopes: "chat:read", JSON: true})
	wantCode(t, again, 0)
	r2 := decode(t, again.stdout)
	if !r2.Cached || r2.AccessToken != r.AccessToken || r2.Login != "twitchdev" {
		t.Errorf("second run = %+v, want the cached token", r2)
	}
	if h.opened.Load() != opened || h.srv.Requests("authorize") != 0 || h.srv.Requests("token") != 0 {
		t.Errorf("second run logged in again (browser %d→%d, authorize %d, token %d)",
			opened, h.opened.Load(), h.srv.Requests("authorize"), h.srv.Requests("token"))
	}
	if !strings.Contains(again.stderr, "stored token of twitchdev") {
		t.Errorf("stderr does not say the token came from the store: %s", again.stderr)
	}

	// Human output of the cached token, with --login.
	human := h.run(Options{UserToken: true, Login: "TwitchDev"})
	wantCode(t, human, 0)
	for _, want := range []string{"User Access Token: " + r.AccessToken, "Refresh Token: " + r.RefreshToken, "Expires At: ", "Scopes: [", "Login: twitchdev"} {
		if !strings.Contains(human.stdout, want) {
			t.Errorf("human output lacks %q:\n%s", want, human.stdout)
		}
	}

	// A scope the grant lacks: a new login.
	more := h.run(Options{UserToken: true, Scopes: "chat:read moderator:read:chatters", JSON: true})
	wantCode(t, more, 0)
	if r3 := decode(t, more.stdout); r3.Cached || r3.AccessToken == r.AccessToken {
		t.Errorf("missing scope answered from the store: %+v", r3)
	}
	if !strings.Contains(more.stderr, "lacks moderator:read:chatters") {
		t.Errorf("stderr does not say why it logged in again: %s", more.stderr)
	}
	h.page()

	// --force logs in again even though the store could answer.
	h.srv.ResetCounters()
	forced := h.run(Options{UserToken: true, Force: true, JSON: true})
	wantCode(t, forced, 0)
	if decode(t, forced.stdout).Cached || h.srv.Requests("authorize") != 1 {
		t.Error("--force answered from the store")
	}
	h.page()
}

func TestStoredTokenRefreshedWhenRefused(t *testing.T) {
	h := newHarness(t)
	first := decode(t, h.run(Options{UserToken: true, Scopes: "chat:read", JSON: true}).stdout)
	h.page()
	h.srv.ExpireAccessToken(first.AccessToken)
	h.srv.ResetCounters()
	res := h.run(Options{UserToken: true, Scopes: "chat:read", JSON: true})
	wantCode(t, res, 0)
	r := decode(t, res.stdout)
	if !r.Cached || r.AccessToken == first.AccessToken || r.AccessToken == "" {
		t.Errorf("after expiry got %+v, want a refreshed cached token", r)
	}
	if h.srv.Requests("token:refresh_token") != 1 || h.srv.Requests("authorize") != 0 {
		t.Errorf("refresh %d, authorize %d", h.srv.Requests("token:refresh_token"), h.srv.Requests("authorize"))
	}
	// The refreshed token is what the store now answers.
	again := decode(t, h.run(Options{UserToken: true, JSON: true}).stdout)
	if again.AccessToken != r.AccessToken {
		t.Error("the refreshed token was not stored")
	}
}

func TestForceVerifySendsForceVerify(t *testing.T) {
	h := newHarness(t)
	var seen atomic.Value
	h.browser = func(ctx context.Context, u string) (*clitest.Page, error) {
		seen.Store(u)
		return clitest.Visit(ctx, u)
	}
	res := h.run(Options{UserToken: true, ForceVerify: true, NoStore: true})
	wantCode(t, res, 0)
	h.page()
	u, _ := url.Parse(seen.Load().(string))
	q := u.Query()
	if q.Get("force_verify") != "true" || q.Get("redirect_uri") != fmt.Sprintf("http://localhost:%d", h.port) || q.Get("response_type") != "code" {
		t.Errorf("authorize query %v", q)
	}
	if q.Get("state") == "" || strings.Contains(u.String(), testSecret) {
		t.Error("no state, or the secret is in the URL")
	}
}

func TestDeviceFlow(t *testing.T) {
	// No auto-approve: the user code is approved through the sandbox once
	// the command prints it.
	port := clitest.FreePort(t)
	srv := twitchtest.NewServer(t, twitchtest.WithDeviceInterval(time.Second))
	pub := srv.PublicClient()
	getenv, _, _ := clitest.Env(t, map[string]string{
		config.EnvClientID: pub.ID, config.EnvIDURL: srv.IDURL(),
	})
	var approved atomic.Bool
	errOut := &clitest.Buffer{}
	errOut.OnWrite = func(s string) {
		m := regexp.MustCompile(`shows the code ([A-Z0-9]+)`).FindStringSubmatch(s)
		if m != nil && approved.CompareAndSwap(false, true) {
			go func() {
				if err := srv.ApproveDevice(m[1], "broadcaster"); err != nil {
					t.Errorf("ApproveDevice: %v", err)
				}
			}()
		}
	}
	var out clitest.Buffer
	f := &cliutil.Factory{IO: &cliutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: errOut}, Getenv: getenv, OpenBrowser: func(context.Context, string) error {
		t.Error("the device flow opened a browser")
		return nil
	}}
	err := Run(context.Background(), &Options{DCF: true, Scopes: "chat:read", JSON: true, Port: port, Factory: f})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	r := decode(t, out.String())
	if r.Login != "broadcaster" || r.RefreshToken == "" || strings.Join(r.Scopes, " ") != "chat:read" || r.ClientID != pub.ID {
		t.Errorf("device token = %+v", r)
	}
	if !strings.Contains(errOut.String(), "Waiting for approval") || strings.Contains(errOut.String(), "\x1b[") {
		t.Errorf("non-terminal progress: %q", errOut.String())
	}
	if !strings.Contains(errOut.String(), srv.URL()) {
		t.Errorf("the verification URL was not printed: %s", errOut.String())
	}
}

func TestDeviceFlowDenied(t *testing.T) {
	srv := twitchtest.NewServer(t, twitchtest.WithDeviceInterval(time.Second))
	getenv, _, _ := clitest.Env(t, map[string]string{config.EnvClientID: srv.PublicClient().ID, config.EnvIDURL: srv.IDURL()})
	errOut := &clitest.Buffer{}
	var once atomic.Bool
	errOut.OnWrite = func(s string) {
		if m := regexp.MustCompile(`shows the code ([A-Z0-9]+)`).FindStringSubmatch(s); m != nil && once.CompareAndSwap(false, true) {
			go srv.DenyDevice(m[1])
		}
	}
	err := Run(context.Background(), &Options{DCF: true, NoStore: true,
		Factory: &cliutil.Factory{IO: &cliutil.IOStreams{In: strings.NewReader(""), Out: &clitest.Buffer{}, ErrOut: errOut}, Getenv: getenv}})
	if exitCode(err) != cliutil.ExitRefused || !strings.Contains(err.Error(), "denied") {
		t.Errorf("denied device flow: %v (exit %d)", err, exitCode(err))
	}
}

func TestImplicitFlow(t *testing.T) {
	h := newHarness(t)
	res := h.run(Options{Implicit: true, Scopes: "user:read:email", JSON: true})
	wantCode(t, res, 0)
	r := decode(t, res.stdout)
	if r.Login != "twitchdev" || r.AccessToken == "" || r.RefreshToken != "" || strings.Join(r.Scopes, " ") != "user:read:email" {
		t.Errorf("implicit token = %+v", r)
	}
	// docs/cli.md's sample shows the lifetime /validate reports, stored
	// or not.
	if r.ExpiresIn <= 0 || r.ExpiresAt == "" {
		t.Errorf("implicit token without expires_in/expires_at: %+v", r)
	}
	ns := h.run(Options{Implicit: true, NoStore: true, Scopes: "user:read:email", JSON: true})
	wantCode(t, ns, 0)
	h.page()
	if nr := decode(t, ns.stdout); nr.ExpiresIn <= 0 || nr.ExpiresAt == "" {
		t.Errorf("implicit token (--no-store) without expires_in/expires_at: %+v", nr)
	}
	if p := h.page(); p.Status != 200 || !strings.Contains(p.Body, `"ok"`) {
		t.Errorf("post-back answer %d %s", p.Status, p.Body)
	}
	// Validated and stored like any user token.
	again := decode(t, h.run(Options{UserToken: true, Scopes: "user:read:email", JSON: true}).stdout)
	if !again.Cached || again.AccessToken != r.AccessToken {
		t.Errorf("implicit token not stored: %+v", again)
	}

	// But it does not replace a refreshable grant of the same user.
	code := decode(t, h.run(Options{UserToken: true, Force: true, Scopes: "user:read:email", JSON: true}).stdout)
	h.page()
	imp := h.run(Options{Implicit: true, Force: true, Scopes: "user:read:email", JSON: true})
	wantCode(t, imp, 0)
	h.page()
	if !strings.Contains(imp.stderr, "not stored") {
		t.Errorf("stderr: %s", imp.stderr)
	}
	kept := decode(t, h.run(Options{UserToken: true, JSON: true}).stdout)
	if kept.AccessToken != code.AccessToken || kept.RefreshToken == "" {
		t.Errorf("the implicit token replaced the refreshable grant: %+v", kept)
	}
}

func TestValidateRefreshRevoke(t *testing.T) {
	h := newHarness(t)
	access, refresh, err := h.srv.MintUserToken(h.client.ID, "moderator", []string{"chat:read", "chat:edit"})
	if err != nil {
		t.Fatal(err)
	}
	v := h.run(Options{Validate: access})
	wantCode(t, v, 0)
	for _, want := range []string{"Client ID: " + h.client.ID, "Token Type: User Access Token", "Login: moderator", "User ID: ", "Expires In: ", "Scopes: [chat:read chat:edit]"} {
		if !strings.Contains(v.stdout, want) {
			t.Errorf("validate output lacks %q:\n%s", want, v.stdout)
		}
	}

	rf := h.run(Options{Refresh: refresh, JSON: true})
	wantCode(t, rf, 0)
	r := decode(t, rf.stdout)
	if r.AccessToken == "" || r.AccessToken == access || r.RefreshToken == "" || r.Login != "moderator" || r.Kind != "user" {
		t.Errorf("refresh = %+v", r)
	}
	if !strings.Contains(rf.stderr, "Successfully refreshed") {
		t.Errorf("stderr: %s", rf.stderr)
	}
	rh := h.run(Options{Refresh: r.RefreshToken})
	wantCode(t, rh, 0)
	if !strings.HasPrefix(rh.stdout, "Access Token: ") || !strings.Contains(rh.stdout, "Refresh Token: ") {
		t.Errorf("human refresh output %q", rh.stdout)
	}

	rv := h.run(Options{Revoke: r.AccessToken, JSON: true})
	wantCode(t, rv, 0)
	if strings.TrimSpace(rv.stdout) != fmt.Sprintf(`{"revoked":true,"client_id":%q}`, h.client.ID) {
		t.Errorf("revoke JSON %s", rv.stdout)
	}
	gone := h.run(Options{Validate: r.AccessToken})
	wantCode(t, gone, cliutil.ExitRefused)
	if gone.stdout != "" {
		t.Errorf("a refused validate printed %q", gone.stdout)
	}
	bad := h.run(Options{Refresh: "not-a-refresh-token"})
	wantCode(t, bad, cliutil.ExitRefused)
	if !strings.Contains(bad.err.Error(), "refresh token") {
		t.Errorf("bad refresh error: %v", bad.err)
	}
	rr := h.run(Options{Revoke: "unknowntoken"})
	wantCode(t, rr, cliutil.ExitRefused)
}

func TestAccessDenied(t *testing.T) {
	h := newHarness(t)
	h.browser = func(ctx context.Context, u string) (*clitest.Page, error) {
		loc, err := h.srv.Deny(u)
		if err != nil {
			return nil, err
		}
		return clitest.Visit(ctx, loc.String())
	}
	res := h.run(Options{UserToken: true, NoStore: true})
	wantCode(t, res, cliutil.ExitRefused)
	if !strings.Contains(res.err.Error(), "denied") {
		t.Errorf("error %v", res.err)
	}
	if p := h.page(); p.Status != 403 || !strings.Contains(p.Body, "Access denied") {
		t.Errorf("browser page %d %s", p.Status, p.Body)
	}
}

func TestRedirectMismatch(t *testing.T) {
	t.Run("sent to the registered URI, where nothing listens", func(t *testing.T) {
		h := newHarness(t)
		other := h.ports.Reserve() // not a registered redirect URI
		h.browser = func(ctx context.Context, u string) (*clitest.Page, error) {
			// One hop: where the sandbox sends the browser.
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Get(u)
			if err != nil {
				return nil, err
			}
			resp.Body.Close()
			return &clitest.Page{Status: resp.StatusCode, Body: resp.Header.Get("Location")}, nil
		}
		res := h.run(Options{UserToken: true, NoStore: true, Port: other, Timeout: 2 * time.Second})
		wantCode(t, res, cliutil.ExitRefused)
		want := fmt.Sprintf("http://localhost:%d", other)
		if !strings.Contains(res.err.Error(), want) || !strings.Contains(res.err.Error(), "redirect_mismatch") {
			t.Errorf("error does not explain what to register: %v", res.err)
		}
		registered := fmt.Sprintf("http://localhost:%d?error=redirect_mismatch&", h.port)
		if p := h.page(); p.Status != http.StatusFound || !strings.HasPrefix(p.Body, registered) {
			t.Errorf("the sandbox sent the browser to %d %q, want %s…", p.Status, p.Body, registered)
		}
	})
	t.Run("registered with a slash: the command stops at once", func(t *testing.T) {
		// twitch-cli's case: the app registered http://localhost:PORT/,
		// the command sends it without the slash, and Twitch's redirect of
		// the error reaches the command's own server.
		h := newHarness(t)
		if _, err := h.srv.UpdateClient(h.client.ID, twitchtest.ClientUpdate{RedirectURIs: []string{fmt.Sprintf("http://localhost:%d/", h.port)}}); err != nil {
			t.Fatal(err)
		}
		res := h.run(Options{UserToken: true, NoStore: true})
		wantCode(t, res, cliutil.ExitRefused)
		if !errors.Is(res.err, twitchauth.ErrRedirectMismatch) {
			t.Errorf("error %v, want ErrRedirectMismatch", res.err)
		}
		if p := h.page(); p.Status != http.StatusBadGateway || !strings.Contains(p.Body, "redirect_uri does not match") {
			t.Errorf("the browser ended on %d %s", p.Status, p.Body)
		}
	})
}

func TestForgedCallbackIgnored(t *testing.T) {
	h := newHarness(t)
	h.browser = func(ctx context.Context, u string) (*clitest.Page, error) {
		forged, err := clitest.Visit(ctx, fmt.Sprintf("http://localhost:%d/?code=attacker&state=wrong", h.port))
		if err != nil || forged.Status != 400 {
			return nil, fmt.Errorf("forged callback answered %v %v", forged, err)
		}
		return clitest.Visit(ctx, u)
	}
	res := h.run(Options{UserToken: true, NoStore: true, JSON: true})
	wantCode(t, res, 0)
	if p := h.page(); p.Status != 200 {
		t.Errorf("page %d %s", p.Status, p.Body)
	}
}

func TestWrongSecret(t *testing.T) {
	h := newHarness(t)
	wrong := testSecret + "-wrong"
	for _, o := range []Options{{Secret: wrong}, {UserToken: true, NoStore: true, Secret: wrong}} {
		res := h.run(o)
		wantCode(t, res, cliutil.ExitRefused)
		if strings.Contains(res.stdout+res.stderr, wrong) {
			t.Errorf("the wrong secret was printed: %s", res.stderr)
		}
		if !strings.Contains(strings.ToLower(res.err.Error()), "secret") {
			t.Errorf("error does not name the secret as the problem: %v", res.err)
		}
		if o.UserToken {
			h.page()
		}
	}
}

func TestPortInUse(t *testing.T) {
	h := newHarness(t)
	l := h.ports.Take(h.port) // still bound: the command finds the port in use
	defer l.Close()
	res := h.run(Options{UserToken: true, NoStore: true})
	wantCode(t, res, cliutil.ExitInternal)
	if !strings.Contains(res.err.Error(), fmt.Sprintf("port %d is already in use", h.port)) {
		t.Errorf("error %v", res.err)
	}
	if h.opened.Load() != 0 {
		t.Error("a browser was opened although the server could not start")
	}
}

func TestNoConfiguration(t *testing.T) {
	getenv, _, _ := clitest.Env(t, nil)
	f := &cliutil.Factory{Getenv: getenv}
	for _, o := range []Options{{}, {UserToken: true}, {DCF: true}, {Revoke: "x"}} {
		o.Factory = f
		err := Run(context.Background(), &o)
		if exitCode(err) != cliutil.ExitUsage {
			t.Fatalf("%+v: %v (exit %d)", o, err, exitCode(err))
		}
		for _, want := range []string{"twitchauth configure", config.EnvClientID, "--client-id"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%+v: the message does not mention %s: %v", o, want, err)
			}
		}
	}
}

func TestNetworkError(t *testing.T) {
	dead := "http://" + clitest.RefusedAddr(t) + "/oauth2"
	getenv, _, _ := clitest.Env(t, map[string]string{config.EnvClientID: "x", config.EnvClientSecret: testSecret, config.EnvIDURL: dead})
	err := Run(context.Background(), &Options{Factory: &cliutil.Factory{Getenv: getenv}})
	if exitCode(err) != cliutil.ExitNetwork {
		t.Errorf("unreachable Twitch: %v (exit %d)", err, exitCode(err))
	}
}

func TestUsageErrors(t *testing.T) {
	h := newHarness(t)
	for _, o := range []Options{
		{Validate: "a", Revoke: "b"},
		{UserToken: true, Refresh: "r"},
		{DCF: true, Implicit: true},
		{Scopes: "chat:read"},
		{UserToken: true, IP: "localhost"},
		{UserToken: true, Port: 70000},
	} {
		if res := h.run(o); res.code != cliutil.ExitUsage {
			t.Errorf("%+v: exit %d (%v)", o, res.code, res.err)
		}
	}
}

func TestLoginTimeout(t *testing.T) {
	h := newHarness(t)
	h.browser = func(context.Context, string) (*clitest.Page, error) { return &clitest.Page{}, nil } // the user walks away
	start := time.Now()
	res := h.run(Options{UserToken: true, NoStore: true, Timeout: 300 * time.Millisecond})
	wantCode(t, res, cliutil.ExitRefused)
	if !strings.Contains(res.err.Error(), "no login within 300ms") {
		t.Errorf("error %v", res.err)
	}
	if time.Since(start) > 15*time.Second {
		t.Error("the timeout was not honoured")
	}
	// The server was shut down: it closed its listener.
	if !h.ports.Closed(h.port) {
		t.Fatal("the redirect server still listens")
	}
}

// Two applications logging the same user in to one token store keep two
// grants: each later run answers from the store with its own token.
func TestTwoAppsShareTheTokenStore(t *testing.T) {
	other := twitchtest.Client{ID: "otherclient0123456789abcdefgh", Secret: "other-secret-0123456789abcdef", Name: "other cli app"}
	h := newHarness(t, twitchtest.WithClient(other))
	other.RedirectURIs = h.client.RedirectURIs
	if _, err := h.srv.UpdateClient(other.ID, twitchtest.ClientUpdate{RedirectURIs: other.RedirectURIs}); err != nil {
		t.Fatal(err)
	}
	login := func(clientID, secret string) Result {
		res := h.run(Options{UserToken: true, Scopes: "chat:read", JSON: true, ClientID: clientID, Secret: secret})
		wantCode(t, res, 0)
		return decode(t, res.stdout)
	}
	a := login("", "")
	h.page()
	b := login(other.ID, other.Secret)
	h.page()
	if a.Cached || b.Cached || a.UserID != b.UserID {
		t.Fatalf("first logins: %+v / %+v", a, b)
	}
	for _, tc := range []struct {
		id, secret string
		want       Result
	}{{"", "", a}, {other.ID, other.Secret, b}} {
		got := login(tc.id, tc.secret)
		if !got.Cached || got.AccessToken != tc.want.AccessToken {
			t.Errorf("client %q again: cached %v, same token %v; want its own stored grant", tc.id, got.Cached, got.AccessToken == tc.want.AccessToken)
		}
	}
}
