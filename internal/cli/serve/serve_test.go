package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/pgtest"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/postgres"
	"github.com/twitchauth/twitchauth/twitchtest"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	file, notes, err := readConfigFile(writeFile(t, "broker.json", `{
	"listen": "127.0.0.1:9000",
	"client_id": "from-file",
	"scopes": "chat:read",
	"api_key": ["a:`+strings.Repeat("a", 64)+`:helix"]
}`))
	if err != nil || len(notes) != 0 {
		t.Fatal(err, notes)
	}
	env := map[string]string{"TWITCH_CLIENT_ID": "from-env", "TWITCHAUTH_SCOPES": "chat:edit", "TWITCHAUTH_API_KEYS": "b:" + strings.Repeat("b", 64) + ":token:app"}
	v := resolve(file, func(k string) string { return env[k] }, map[string][]string{"scopes": {"user:read:email"}})
	if got := v.get("listen"); got != "127.0.0.1:9000" {
		t.Errorf("listen %q (file over default)", got)
	}
	if got := v.get("client_id"); got != "from-env" {
		t.Errorf("client_id %q (env over file)", got)
	}
	if got := v.get("scopes"); got != "user:read:email" {
		t.Errorf("scopes %q (flag over env)", got)
	}
	if got := v["api_key"]; len(got) != 2 {
		t.Errorf("api keys %q: file and env keys add up", got)
	}
	if got := v.get("validation_interval"); got != "1h" {
		t.Errorf("default validation interval %q", got)
	}

	// The former "key = value" format is still read, with a notice; a
	// note after a value is a comment, not part of the value.
	legacy, notes, err := readConfigFile(writeFile(t, "broker.conf", "# comment\nlisten = 127.0.0.1:9001 # the loopback port\nclient_id = \"quoted # kept\"\napi_key = c:"+strings.Repeat("c", 64)+":admin\n"))
	if err != nil || legacy.get("listen") != "127.0.0.1:9001" || legacy.get("client_id") != "quoted # kept" || len(legacy["api_key"]) != 1 {
		t.Fatalf("legacy config: %v %v", legacy, err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "deprecated") || !strings.Contains(notes[0], "JSON") {
		t.Errorf("legacy notes: %q", notes)
	}
	for name, content := range map[string]string{
		"bad.json": `{"colour": "blue"}`, "bad.conf": "colour = blue\n",
	} {
		if _, _, err := readConfigFile(writeFile(t, name, content)); err == nil || !strings.Contains(err.Error(), "unknown setting") {
			t.Errorf("%s: unknown setting: %v", name, err)
		}
	}
	if _, _, err := readConfigFile(writeFile(t, "list.json", `{"listen": ["a", "b"]}`)); err == nil || !strings.Contains(err.Error(), `"listen" must be a string`) {
		t.Errorf("a list for a single setting: %v", err)
	}
	// One permission policy: a file with a secret that others may read is
	// refused; one without a secret is read.
	p := writeFile(t, "open.json", `{"client_secret": "s3cret"}`)
	os.Chmod(p, 0o644)
	if _, _, err := readConfigFile(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable config accepted: %v", err)
	}
	p = writeFile(t, "open-no-secret.json", `{"listen": "127.0.0.1:1"}`)
	os.Chmod(p, 0o644)
	if _, _, err := readConfigFile(p); err != nil {
		t.Errorf("a world-readable config without a secret: %v", err)
	}
	if _, _, err := readConfigFile(writeFile(t, "broken.json", `{"client_secret": "s3cret"`)); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("broken JSON: %v", err)
	}
	// The old environment name of the extension secret still works, with
	// a notice.
	var deprecated []string
	r := resolve(nil, func(k string) string { return map[string]string{"TWITCHAUTH_EXTENSION_SECRET": "c2VjcmV0"}[k] }, nil, &deprecated)
	if r.get("extension_secret") != "c2VjcmV0" || len(deprecated) != 1 || !strings.Contains(deprecated[0], "use TWITCH_EXTENSION_SECRET") {
		t.Errorf("old extension secret name: %q %q", r.get("extension_secret"), deprecated)
	}
}

// TestServeOnPostgres runs the broker on a throwaway PostgreSQL database:
// the store factory takes postgres:// URLs, requires the shared encryption
// key, and the grants live in the database.
func TestServeOnPostgres(t *testing.T) {
	dbURL := pgtest.Start(t)
	sb := twitchtest.NewServer(t)
	cl := sb.DefaultClient()
	key, _ := store.GenerateKey()
	env := map[string]string{"TWITCH_CLIENT_ID": cl.ID, "TWITCH_CLIENT_SECRET": cl.Secret, "TWITCH_ID_URL": sb.IDURL(), "TWITCH_API_URL": sb.APIURL()}
	flags := map[string][]string{"listen": {"127.0.0.1:0"}, "store": {dbURL}, "keys_file": {filepath.Join(t.TempDir(), "keys.json")}, "log_level": {"warn"}}

	// Without the key: a clear refusal.
	err := Run(context.Background(), &Options{Flags: flags, Getenv: func(k string) string { return env[k] }, Stderr: &syncBuffer{}})
	if err == nil || !strings.Contains(err.Error(), "key") {
		t.Fatalf("postgres store without a key: %v", err)
	}

	env[store.EnvEncryptionKey] = store.EncodeKey(key)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, &Options{Flags: flags, Getenv: func(k string) string { return env[k] }, Stderr: &syncBuffer{}, ready: func(i Info) { ready <- i }})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	access, refresh, err := sb.MintUserToken(cl.ID, "twitchdev", []string{"chat:read"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := info.Broker.Provider().AddUserToken(ctx, &twitchauth.Token{AccessToken: access, RefreshToken: refresh})
	if err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(ctx, dbURL, postgres.Config{Key: store.KeyConfig{Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Load(ctx, store.GrantKey(cl.ID, store.UserKey(tok.UserID)))
	if err != nil || rec.RefreshToken != refresh {
		t.Fatalf("the grant is not in PostgreSQL: %v", err)
	}
	resp, err := http.Get(info.URL + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestReloadPicksUpRotatedSecret: the secret is rotated in the sandbox's
// console while the broker runs; the operator writes the new one into
// client_secret_file and sends SIGHUP (here: the Reload channel); the broker
// checks it with Twitch and renewals work again, without a restart.
func TestReloadPicksUpRotatedSecret(t *testing.T) {
	sb := twitchtest.NewServer(t)
	cl := sb.DefaultClient()
	secretFile := writeFile(t, "secret", cl.Secret+"\n")
	env := map[string]string{"TWITCH_CLIENT_ID": cl.ID, "TWITCH_ID_URL": sb.IDURL(), "TWITCH_API_URL": sb.APIURL()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan struct{})
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() {
		done <- Run(ctx, &Options{
			Flags: map[string][]string{"listen": {"127.0.0.1:0"}, "store": {"memory"}, "client_secret_file": {secretFile},
				"keys_file": {filepath.Join(t.TempDir(), "keys.json")}},
			Getenv: func(k string) string { return env[k] }, Stderr: logs, Reload: reload, ready: func(i Info) { ready <- i },
		})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	p := info.Broker.Provider()
	if _, err := p.Token(ctx, provider.App()); err != nil {
		t.Fatal(err)
	}
	newSecret, err := sb.RotateClientSecret(cl.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Refresh(ctx, provider.App()); !errors.Is(err, twitchauth.ErrInvalidClientSecret) {
		t.Fatalf("renewal after rotation: %v", err)
	}
	if info.Broker.CredentialProblem() == nil {
		t.Fatal("the broker does not report the refused secret")
	}
	if err := os.WriteFile(secretFile, []byte(newSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	reload <- struct{}{}
	deadline := time.Now().Add(10 * time.Second)
	for info.Broker.CredentialProblem() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the reload did not mend the secret:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := p.Refresh(ctx, provider.App()); err != nil {
		t.Fatalf("renewal after reload: %v", err)
	}
	for _, s := range []string{cl.Secret, newSecret} {
		if strings.Contains(logs.String(), s) {
			t.Fatal("a secret appears in the logs")
		}
	}
	cancel()
	<-done
}

// TestReloadRefusesWrongSecret: SIGHUP with a wrong secret in
// client_secret_file (a typo, a stale copy) installs nothing: the broker
// checks it with Twitch first, logs the refusal, and keeps renewing with the
// secret it had (it used to install the typo, and every renewal failed).
func TestReloadRefusesWrongSecret(t *testing.T) {
	sb := twitchtest.NewServer(t)
	cl := sb.DefaultClient()
	secretFile := writeFile(t, "secret", cl.Secret+"\n")
	env := map[string]string{"TWITCH_CLIENT_ID": cl.ID, "TWITCH_ID_URL": sb.IDURL(), "TWITCH_API_URL": sb.APIURL()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := make(chan struct{})
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() {
		done <- Run(ctx, &Options{
			Flags: map[string][]string{"listen": {"127.0.0.1:0"}, "store": {"memory"}, "client_secret_file": {secretFile},
				"keys_file": {filepath.Join(t.TempDir(), "keys.json")}},
			Getenv: func(k string) string { return env[k] }, Stderr: logs, Reload: reload, ready: func(i Info) { ready <- i },
		})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte("typo-of-the-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload <- struct{}{}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "reload: the client secret was not accepted"); {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged after the reload:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "not installed") {
		t.Errorf("the log does not say the secret was not installed:\n%s", logs)
	}
	if _, err := info.Broker.Provider().Refresh(ctx, provider.App()); err != nil {
		t.Fatalf("renewal after a refused reload: %v (the wrong secret was installed)", err)
	}
	if strings.Contains(logs.String(), "typo-of-the-secret") || strings.Contains(logs.String(), cl.Secret) {
		t.Fatal("a secret appears in the logs")
	}
	cancel()
	<-done
}

// TestSandboxMountsRigAndEBS: in --sandbox mode the rig and the example
// extension's backend are served beside the broker.
func TestSandboxMountsRigAndEBS(t *testing.T) {
	info, _ := startSandboxBroker(t, nil)
	resp, err := http.Get(info.URL + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `href="`+info.Sandbox.ConsoleURL()+`"`) || !strings.Contains(string(page), `href="/sandbox/rig/"`) {
		t.Fatalf("the sandbox's pages do not link to the console and the rig:\n%s", page)
	}
	resp, err = http.Get(info.RigURL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("rig page: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(info.RigURL + "ext/panel.html")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("example panel: %v %v", resp, err)
	}
	resp.Body.Close()
	u, _ := info.Sandbox.User("viewer")
	jwt, err := info.Sandbox.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: "viewer", ChannelID: u.ID, UserID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer " + jwt, 200}} {
		req, _ := http.NewRequest("GET", info.URL+"/sandbox/ebs/api/greeting", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Fatalf("greeting (with JWT: %v): %d, want %d", c.auth != "", resp.StatusCode, c.want)
		}
	}
}

func TestMissingCredentials(t *testing.T) {
	err := Run(context.Background(), &Options{Flags: map[string][]string{"listen": {"127.0.0.1:0"}}, Getenv: func(k string) string { return map[string]string{"HOME": t.TempDir()}[k] }, Stderr: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), "TWITCH_CLIENT_ID") || !strings.Contains(err.Error(), "--sandbox") {
		t.Fatalf("no credentials: %v", err)
	}
}

// TestServeAgainstSandboxProcess runs the broker in its normal (non-sandbox)
// mode against a separately started sandbox, with the store on disk and a
// key from the keys file, and checks the API and readiness.
func TestServeAgainstSandboxProcess(t *testing.T) {
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "keys.json")
	key := broker.GenerateKey()
	if err := broker.WriteKeysFile(keysFile, []broker.APIKey{{Name: "svc", SHA256: broker.HashKey(key), Perms: []broker.Perm{broker.PermTokenApp}}}); err != nil {
		t.Fatal(err)
	}
	sb := twitchtest.NewServer(t)
	cl := sb.DefaultClient()
	env := map[string]string{"TWITCH_CLIENT_ID": cl.ID, "TWITCH_CLIENT_SECRET": cl.Secret, "TWITCH_ID_URL": sb.IDURL(), "TWITCH_API_URL": sb.APIURL()}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, &Options{
			Flags:  map[string][]string{"listen": {"127.0.0.1:0"}, "store": {filepath.Join(dir, "broker.db")}, "keys_file": {keysFile}, "log_level": {"warn"}},
			Getenv: func(k string) string { return env[k] },
			Stderr: &syncBuffer{},
			ready:  func(i Info) { ready <- i },
		})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.URL, "http://localhost:") {
		t.Errorf("default public URL %s, want http://localhost:<port>", info.URL)
	}
	for path, want := range map[string]int{"/readyz": 200, "/v1/token/app": 200, "/v1/users": 403} {
		req, _ := http.NewRequest("GET", info.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "broker.db")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("store file: %v %v", st, err)
	}
}

func TestSandboxExtensionRoute(t *testing.T) {
	info, _ := startSandboxBroker(t, nil)
	jwt, err := info.Sandbox.MintExtensionJWT(twitchtest.ExtJWTOptions{ChannelID: "123", Role: twitchtest.RoleViewer, UserID: "456"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer not.a.jwt", 401}, {"Bearer " + jwt, 200}} {
		req, _ := http.NewRequest("GET", info.URL+"/ext/hello", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || (c.want == 200 && !strings.Contains(body.String(), `"channel_id":"123"`)) {
			t.Errorf("auth %.20q: %d %s", c.auth, resp.StatusCode, body.String())
		}
	}
}

func TestDurationSettingsRefused(t *testing.T) {
	for _, c := range []struct{ key, val string }{
		{"refresh_margin", "soon"}, {"renew_timeout", "10ms"}, {"validation_interval", "1s"}, {"validation_lease", "10ms"},
	} {
		err := Run(context.Background(), &Options{
			Flags: map[string][]string{"listen": {"127.0.0.1:0"}, c.key: {c.val}},
			Getenv: func(k string) string {
				return map[string]string{"TWITCH_CLIENT_ID": "id", "TWITCH_CLIENT_SECRET": "s"}[k]
			},
			Stderr: &syncBuffer{},
		})
		var ee *cliutil.ExitError
		if !errors.As(err, &ee) || ee.Code != cliutil.ExitUsage {
			t.Errorf("%s=%q: %v, want a usage error", c.key, c.val, err)
		}
	}
}

// TestServeJSONReadyLine: with --json the broker prints one compact ready
// line on stdout (the sandbox's admin key with it); the banner stays on
// stderr.
func TestServeJSONReadyLine(t *testing.T) {
	var stdout, stderr cliutil.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	o := &Options{Sandbox: true, SandboxListen: "127.0.0.1:0", JSON: true,
		Flags:   map[string][]string{"listen": {"127.0.0.1:0"}, "log_level": {"warn"}},
		Factory: &cliutil.Factory{IO: &cliutil.IOStreams{Out: &stdout, ErrOut: &stderr}, Getenv: func(string) string { return "" }},
		ready:   func(i Info) { ready <- i }}
	go func() { done <- Run(ctx, o) }()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	var r Ready
	if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil || strings.Count(stdout.String(), "\n") != 1 {
		t.Fatalf("stdout %q: %v", stdout.String(), err)
	}
	if r.URL != info.URL || r.AdminKey != info.AdminKey || r.AdminKey == "" || r.RedirectURI != info.URL+"/callback" || r.ConsoleURL == "" {
		t.Errorf("ready line %+v, info %+v", r, info)
	}
	if !strings.Contains(stderr.String(), "sandbox mode") || strings.Contains(stdout.String(), "sandbox mode") {
		t.Errorf("the banner is not on stderr alone")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
