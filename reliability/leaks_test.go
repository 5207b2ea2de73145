package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/internal/cli/serve"
	"github.com/twitchauth/twitchauth/internal/pgtest"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// Recognisable credentials of the leak suite.
const (
	leakClientID     = "leaksuiteclientid0000000000001"
	leakClientSecret = "LEAKSUITE-client-secret-d4e5f6a7"
	leakWrongSecret  = "LEAKSUITE-wrong-secret-0a1b2c3d"
)

// recordingSandbox serves a sandbox behind a wrapper that records every URL
// it saw and every secret it issued (tokens, ID tokens, device codes).
type recordingSandbox struct {
	*twitchtest.Server
	url     string
	mu      sync.Mutex
	urls    []string
	secrets []string
}

func (rs *recordingSandbox) IDURL() string  { return rs.url + "/oauth2" }
func (rs *recordingSandbox) APIURL() string { return rs.url + "/helix" }

type captureWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (c *captureWriter) Write(p []byte) (int, error) {
	c.buf.Write(p)
	return c.ResponseWriter.Write(p)
}

func newRecordingSandbox(t *testing.T, opts ...twitchtest.Option) *recordingSandbox {
	s := twitchtest.NewServer(t, opts...)
	rs := &recordingSandbox{Server: s}
	h := s.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.urls = append(rs.urls, r.URL.String(), r.RequestURI)
		rs.mu.Unlock()
		cw := &captureWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		var issued map[string]any
		if json.Unmarshal(cw.buf.Bytes(), &issued) == nil {
			rs.mu.Lock()
			for _, k := range []string{"access_token", "refresh_token", "id_token", "device_code"} {
				if v, ok := issued[k].(string); ok {
					rs.secrets = append(rs.secrets, v)
				}
			}
			rs.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	rs.url = srv.URL
	return rs
}

// TestNoSecretLeaks runs every flow — app token, code flow, refresh,
// validate, revoke, device flow, Helix calls through the Provider and
// Transport, and the broker's sign-in, token API and Helix proxy — with
// recognisable credentials, capturing every log line (client, Provider,
// broker and sandbox, at debug level), every error message, every URL the
// sandbox and the broker saw, and every line of the broker's audit log.
// None may contain a client secret, an access or refresh token, an ID
// token, a device code or an API key.
func TestNoSecretLeaks(t *testing.T) {
	ctx := testCtx(t, time.Minute)
	logs := newLockedBuffer()
	logger := func(component string) *slog.Logger {
		return slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", component)
	}
	bsrv := httptest.NewUnstartedServer(nil)
	public := "http://" + bsrv.Listener.Addr().String()
	rs := newRecordingSandbox(t,
		twitchtest.WithClient(twitchtest.Client{ID: leakClientID, Secret: leakClientSecret, Name: "Leak Suite",
			Type: twitchtest.Confidential, RedirectURIs: []string{"http://localhost:3000", public + "/callback"}}),
		twitchtest.WithDeviceInterval(10*time.Millisecond),
		twitchtest.WithLogger(logger("sandbox")),
	)
	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg := &twitchauth.Config{
		ClientID: leakClientID, ClientSecret: leakClientSecret, RedirectURI: "http://localhost:3000",
		Scopes:    []string{"user:read:email", "chat:read", "openid"},
		Endpoints: twitchauth.Endpoints{IDURL: rs.IDURL(), APIURL: rs.APIURL()},
		Logger:    logger("client"),
	}

	// App token; code flow; refresh; validate.
	_, err := cfg.AppToken(ctx)
	must(err)
	state := twitchauth.NewState()
	cb, err := rs.Authorize(cfg.AuthorizeURL(state, twitchauth.WithScopes("openid")), "twitchdev")
	must(err)
	tok, err := cfg.HandleCallback(ctx, cb.Query(), state)
	must(err)
	tok2, err := cfg.Refresh(ctx, tok.RefreshToken)
	must(err)
	_, err = cfg.Validate(ctx, tok2.AccessToken)
	must(err)

	// Device flow.
	da, err := cfg.StartDevice(ctx, "chat:read")
	must(err)
	must(rs.ApproveDevice(da.UserCode, "broadcaster"))
	dtok, err := cfg.PollDevice(ctx, da)
	must(err)

	// Provider, Transport and Helix, with a 401 and a refresh on the way.
	p, err := provider.New(ctx, provider.Config{OAuth: cfg, Logger: logger("provider")})
	must(err)
	_, err = p.AddUserToken(ctx, dtok)
	must(err)
	h := twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, Source: p.TokenSource(provider.User(dtok.UserID))}))
	must(h.Get(ctx, "/users", nil, nil))
	cur, err := p.Token(ctx, provider.User(dtok.UserID))
	must(err)
	rs.ExpireAccessToken(cur.AccessToken)
	must(h.Get(ctx, "/users", nil, nil))
	must(twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, Source: p.TokenSource(provider.App())})).Get(ctx, "/users", url.Values{"login": {"twitchdev"}}, nil))

	// Revoke, then the refusals: every error message is kept.
	must(cfg.Revoke(ctx, tok2.AccessToken))
	_, err = cfg.Validate(ctx, tok2.AccessToken)
	note(err)
	note(cfg.Revoke(ctx, tok2.AccessToken))
	_, err = cfg.Refresh(ctx, "not-"+tok2.RefreshToken)
	note(err)
	bad := *cfg
	bad.ClientSecret = leakWrongSecret
	_, err = bad.AppToken(ctx)
	note(err)
	_, err = bad.Refresh(ctx, tok2.RefreshToken)
	note(err)
	_, err = cfg.HandleCallback(ctx, url.Values{"code": {"x"}, "state": {state}}, state)
	note(err)
	if len(errs) < 6 {
		t.Fatalf("expected refusals, got %d errors: %q", len(errs), errs)
	}

	// The broker: sign-in, token API, Helix proxy, removal, with an audit
	// log and keys (scoped, rotated, expired) from the keys file.
	apiKey, scopedKey, oldKey, newKey, expiredKey := broker.GenerateKey(), broker.GenerateKey(), broker.GenerateKey(), broker.GenerateKey(), broker.GenerateKey()
	ks, err := broker.NewKeySet(broker.APIKey{Name: "leak", SHA256: broker.HashKey(apiKey), Perms: []broker.Perm{broker.PermAdmin}})
	must(err)
	rotated := broker.APIKey{Name: "rotated", SHA256: broker.HashKey(oldKey), Perms: []broker.Perm{broker.PermTokenApp}}
	rotated.Rotate(broker.HashKey(newKey), time.Now(), time.Hour)
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	must(broker.WriteKeysFile(keysFile, []broker.APIKey{
		{Name: "scoped", SHA256: broker.HashKey(scopedKey), Perms: []broker.Perm{broker.PermTokenUser, broker.PermHelix}, Subjects: []string{"intent:nobody"}},
		rotated,
		{Name: "expired", SHA256: broker.HashKey(expiredKey), Perms: []broker.Perm{broker.PermTokenApp}, Expires: time.Now().Add(-time.Second)},
	}))
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	audit, err := broker.OpenAuditLog(auditPath, logger("audit"))
	must(err)
	defer audit.Close()
	b, err := broker.New(ctx, broker.Config{
		Twitch:    &twitchauth.Config{ClientID: leakClientID, ClientSecret: leakClientSecret, Scopes: []string{"chat:read"}, Endpoints: cfg.Endpoints},
		Store:     store.NewMemory(),
		PublicURL: public,
		Keys:      ks,
		KeysFile:  keysFile,
		Audit:     audit,
		Logger:    logger("broker"),
	})
	must(err)
	var brokerURLs []string
	var bmu sync.Mutex
	bh := b.Handler()
	bsrv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bmu.Lock()
		brokerURLs = append(brokerURLs, r.URL.String(), r.RequestURI)
		bmu.Unlock()
		bh.ServeHTTP(w, r)
	})
	bsrv.Start()
	t.Cleanup(bsrv.Close)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(public + "/authorize")
	must(err)
	resp.Body.Close()
	cbURL, err := rs.Authorize(resp.Header.Get("Location"), "moderator")
	must(err)
	resp, err = browser.Get(cbURL.String())
	must(err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("broker callback: %d", resp.StatusCode)
	}
	mod, _ := rs.User("moderator")
	apiWith := func(key, method, path string, hdr ...string) string {
		req, _ := http.NewRequestWithContext(ctx, method, public+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		must(err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			errs = append(errs, string(body))
		}
		return string(body)
	}
	api := func(method, path string, hdr ...string) string { return apiWith(apiKey, method, path, hdr...) }
	api(http.MethodGet, "/v1/token/app")
	api(http.MethodGet, "/v1/token/user/"+mod.ID)
	api(http.MethodPost, "/v1/token/user/"+mod.ID+"/refresh")
	api(http.MethodGet, "/v1/token/user/moderator?scopes=channel:manage:polls") // refused: missing scope
	api(http.MethodGet, "/helix/users", broker.SubjectHeader, "user:"+mod.ID)
	api(http.MethodGet, "/v1/users")
	api(http.MethodDelete, "/v1/users/"+mod.ID)
	api(http.MethodGet, "/v1/token/user/"+mod.ID)                                            // gone
	apiWith(scopedKey, http.MethodGet, "/v1/token/user/"+mod.ID)                             // refused: scope
	apiWith(scopedKey, http.MethodGet, "/helix/users", broker.SubjectHeader, "user:"+mod.ID) // refused: scope
	apiWith(oldKey, http.MethodGet, "/v1/token/app")                                         // the rotated key's previous value
	apiWith(newKey, http.MethodGet, "/v1/token/app")
	apiWith(expiredKey, http.MethodGet, "/v1/token/app") // refused: expired
	must(broker.WriteKeysFile(keysFile, nil))            // every file key deleted, audited
	must(b.ReloadKeys(ctx))
	api(http.MethodGet, "/metrics")
	must(audit.Flush())
	auditData, err := os.ReadFile(auditPath)
	must(err)
	if n := strings.Count(string(auditData), "\n"); n < 15 || !strings.Contains(string(auditData), `"key_previous":true`) ||
		!strings.Contains(string(auditData), `"error":"subject_forbidden"`) || !strings.Contains(string(auditData), `"error":"key_expired"`) {
		t.Fatalf("the audit log misses entries (%d lines):\n%s", n, auditData)
	}

	// The check.
	rs.mu.Lock()
	secrets := append([]string{leakClientSecret, leakWrongSecret, apiKey, scopedKey, oldKey, newKey, expiredKey}, rs.secrets...)
	texts := append(append([]string{}, rs.urls...), errs...)
	rs.mu.Unlock()
	bmu.Lock()
	texts = append(texts, brokerURLs...)
	bmu.Unlock()
	texts = append(texts, strings.Split(logs.String(), "\n")...)
	texts = append(texts, strings.Split(string(auditData), "\n")...)
	if len(secrets) < 10 {
		t.Fatalf("only %d secrets recorded: the recorder missed the issued tokens", len(secrets))
	}
	if !strings.Contains(logs.String(), "component=broker") || !strings.Contains(logs.String(), "component=client") {
		t.Fatalf("the logs were not captured:\n%s", logs.String())
	}
	if leaks := findSecrets(texts, secrets); len(leaks) > 0 {
		t.Errorf("%d leaks:\n%s", len(leaks), strings.Join(leaks, "\n"))
	}
	t.Logf("leak check: %d secrets against %d texts (%d log lines, %d URLs, %d error messages, %d audit lines): no leak",
		len(secrets), len(texts), strings.Count(logs.String(), "\n"), len(rs.urls)+len(brokerURLs), len(errs), strings.Count(string(auditData), "\n"))
}

// leakDBPassword is the database password of TestNoDSNPasswordLeaks.
const leakDBPassword = "LEAKSUITE-db-password-9f8e7d6c"

// runServe runs `twitchauth serve` in this process with flags until it logs
// its listening line (then stops it) or fails, and returns what it printed
// (banner, logs at debug level) and its error.
func runServe(t *testing.T, sandbox bool, env map[string]string, flags map[string][]string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out := newLockedBuffer()
	flags["listen"] = []string{"127.0.0.1:0"}
	flags["log_level"] = []string{"debug"}
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, &serve.Options{Sandbox: sandbox, SandboxListen: "127.0.0.1:0", Flags: flags,
			Getenv: func(k string) string { return env[k] }, Stdout: out, Stderr: out})
	}()
	for {
		select {
		case err := <-done:
			return out.String(), err
		case <-time.After(20 * time.Millisecond):
		}
		if strings.Contains(out.String(), "broker listening") {
			cancel()
			err := <-done
			return out.String(), err
		}
	}
}

// TestNoDSNPasswordLeaks runs `twitchauth serve` on a PostgreSQL store named
// by a URL carrying a password — in the userinfo and as a password=
// parameter — and on an unreachable one, and scans everything it prints
// (banner, logs at debug level, errors): the password never appears. Before
// the fix the "broker listening" line logged the URL with its password.
func TestNoDSNPasswordLeaks(t *testing.T) {
	dbURL := pgtest.Start(t)
	key, _ := store.GenerateKey()
	encKey := store.EncodeKey(key) // handed to serve through its Getenv
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	withUser := *u
	withUser.User = url.UserPassword(u.User.Username(), leakDBPassword) // trust authentication ignores it
	withParam := *u
	q := withParam.Query()
	q.Set("password", leakDBPassword)
	withParam.RawQuery = q.Encode()
	env := map[string]string{"HOME": t.TempDir(), store.EnvEncryptionKey: encKey}
	for _, dsn := range []string{withUser.String(), withParam.String()} {
		out, err := runServe(t, true, env, map[string][]string{"store": {dsn}})
		if err != nil || !strings.Contains(out, "broker listening") || !strings.Contains(out, "xxxxx") {
			t.Errorf("serve: %v; its output lacks the listening line or the redacted store:\n%s", err, out)
		}
		if strings.Contains(out, leakDBPassword) {
			t.Errorf("serve --store %s prints the database password:\n%s", strings.ReplaceAll(dsn, leakDBPassword, "<password>"), out)
		}
	}
	// An unreachable server: the error is printed, the password is not.
	bad := fmt.Sprintf("postgres://twitchauth:%s@127.0.0.1:1/db?connect_timeout=2", leakDBPassword)
	out, err := runServe(t, false, map[string]string{"HOME": t.TempDir(), "TWITCH_CLIENT_ID": "x", "TWITCH_CLIENT_SECRET": "y", store.EnvEncryptionKey: encKey},
		map[string][]string{"store": {bad}})
	if err == nil || strings.Contains(out+err.Error(), leakDBPassword) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("serve on an unreachable database: %v\n%s", err, out)
	}
}
