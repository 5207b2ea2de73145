package mock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
)

// errTo is a Factory whose stderr is w.
func errTo(w io.Writer) *cliutil.Factory {
	return &cliutil.Factory{IO: &cliutil.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: w}}
}

// startMock runs the command in-process with --json and returns the ready
// line.
func startMock(t *testing.T, o *Options) (Ready, func() error) {
	t.Helper()
	pr, pw := io.Pipe()
	if o.Factory == nil {
		o.Factory = errTo(io.Discard)
	}
	o.Factory.IO.Out = pw
	o.JSON = true
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, o); pw.Close() }()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, pr)
	}()
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			cancel()
			t.Fatalf("mock exited without a ready line: %v", <-errc)
		}
		line = l
	case err := <-errc:
		cancel()
		t.Fatalf("mock exited early: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("no ready line within 30s")
	}
	var r Ready
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("ready line %q: %v", line, err)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("mock did not stop within 10s")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return r, stop
}

func post(t *testing.T, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestMockDefaults(t *testing.T) {
	r, stop := startMock(t, &Options{Listen: "127.0.0.1:0", UserTokenLifetime: time.Hour, AppTokenLifetime: 2 * time.Hour, HelixLimit: 800, HelixWindow: time.Minute, ViewerLimit: 30, ViewerWindow: time.Minute})
	if !strings.HasPrefix(r.URL, "http://127.0.0.1:") || r.IDURL != r.URL+"/oauth2" || r.APIURL != r.URL+"/helix" {
		t.Fatalf("ready URLs: %+v", r)
	}
	types := map[string]ReadyClient{}
	for _, c := range r.Clients {
		types[c.Type] = c
	}
	conf := types["confidential"]
	if conf.ID == "" || conf.Secret == "" || len(conf.RedirectURIs) != 1 || conf.RedirectURIs[0] != "http://localhost:3000" {
		t.Fatalf("confidential client: %+v", conf)
	}
	if pub, ok := types["public"]; !ok || pub.Secret != "" {
		t.Fatalf("public client: %+v", pub)
	}
	if _, ok := types["extension"]; !ok {
		t.Fatalf("no extension client in %+v", r.Clients)
	}
	logins := []string{}
	for _, u := range r.Users {
		logins = append(logins, u.Login)
	}
	if strings.Join(logins, ",") != "twitchdev,broadcaster,moderator,viewer" {
		t.Fatalf("users: %v", logins)
	}

	st, tok := post(t, r.IDURL+"/token", url.Values{"client_id": {conf.ID}, "client_secret": {conf.Secret}, "grant_type": {"client_credentials"}})
	if st != 200 || tok["expires_in"].(float64) != 7200 {
		t.Fatalf("client_credentials: %d %v", st, tok)
	}
	req, _ := http.NewRequest("GET", r.IDURL+"/validate", nil)
	req.Header.Set("Authorization", "OAuth "+tok["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if resp.StatusCode != 200 || v["client_id"] != conf.ID {
		t.Fatalf("validate: %d %v", resp.StatusCode, v)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := http.Get(r.IDURL + "/validate"); err == nil {
		t.Fatal("server still answers after stop")
	}
}

func TestMockFlagsAndStateFile(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	o := &Options{Listen: "127.0.0.1:0", ClientID: "myclient", ClientSecret: "mysecret", RedirectURIs: []string{"http://localhost:1/cb", "http://localhost:2/cb"},
		PublicClientID: "mypublic", Users: []string{"alice", "bob"}, AutoApprove: "alice", StateFile: state,
		UserTokenLifetime: time.Hour, AppTokenLifetime: time.Hour, HelixLimit: 800, HelixWindow: time.Minute, ViewerLimit: 30, ViewerWindow: time.Minute}
	r, stop := startMock(t, o)
	var conf ReadyClient
	for _, c := range r.Clients {
		if c.ID == "myclient" {
			conf = c
		}
	}
	if conf.Secret != "mysecret" || len(conf.RedirectURIs) != 2 {
		t.Fatalf("confidential client from flags: %+v", r.Clients)
	}
	if len(r.Users) != 2 || r.Users[0].Login != "alice" || r.AutoApprove != "alice" {
		t.Fatalf("users: %+v", r.Users)
	}
	// Auto-approve: the device code is approved at once.
	st, dev := post(t, r.IDURL+"/device", url.Values{"client_id": {"mypublic"}, "scopes": {"chat:read"}})
	if st != 200 {
		t.Fatalf("device: %d %v", st, dev)
	}
	st, tok := post(t, r.IDURL+"/token", url.Values{"client_id": {"mypublic"}, "device_code": {dev["device_code"].(string)}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}})
	if st != 200 {
		t.Fatalf("device poll: %d %v", st, tok)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	// Restart from the state file: the token and the users survive.
	r2, _ := startMock(t, &Options{Listen: "127.0.0.1:0", StateFile: state, UserTokenLifetime: time.Hour, AppTokenLifetime: time.Hour, HelixLimit: 800, HelixWindow: time.Minute, ViewerLimit: 30, ViewerWindow: time.Minute})
	if len(r2.Users) != 2 || r2.Users[0].ID != r.Users[0].ID {
		t.Fatalf("users after restart: %+v (before %+v)", r2.Users, r.Users)
	}
	req, _ := http.NewRequest("GET", r2.IDURL+"/validate", nil)
	req.Header.Set("Authorization", "OAuth "+tok["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token not valid after restart: %d", resp.StatusCode)
	}
}

func TestMockBadFlags(t *testing.T) {
	valid := func() *Options {
		return &Options{Listen: "127.0.0.1:0", UserTokenLifetime: time.Hour, AppTokenLifetime: time.Hour,
			HelixLimit: 800, HelixWindow: time.Minute, ViewerLimit: 30, ViewerWindow: time.Minute}
	}
	for _, tc := range []struct {
		change func(*Options)
		want   string
	}{
		{func(o *Options) { o.Users = []string{"Not Valid"} }, "a Twitch login"},
		{func(o *Options) { o.AutoApprove = "nobody" }, "nobody"},
		{func(o *Options) { o.UserTokenLifetime = 0 }, "--user-token-lifetime"},
		{func(o *Options) { o.HelixLimit = 0 }, "--helix-limit"},
		{func(o *Options) { o.HelixWindow = -time.Second }, "--helix-window"},
		{func(o *Options) { o.ViewerLimit = 0 }, "--viewer-limit"},
		{func(o *Options) { o.ViewerWindow = 0 }, "--viewer-window"},
	} {
		o := valid()
		tc.change(o)
		err := Run(context.Background(), o)
		var ee *cliutil.ExitError
		if !errors.As(err, &ee) || ee.Code != cliutil.ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%+v) = %v, want a usage error naming %q", o, err, tc.want)
		}
	}
}

// TestMockHelixRateLimit: --helix-limit and --helix-window size the
// buckets (a 429 after that many requests), the banner says so, the
// exhaust endpoint of --help works against the process, and --help tells
// how to trigger a 429.
func TestMockHelixRateLimit(t *testing.T) {
	var stderr lockedBuffer
	o := &Options{Listen: "127.0.0.1:0", UserTokenLifetime: time.Hour, AppTokenLifetime: time.Hour,
		HelixLimit: 2, HelixWindow: time.Hour, ViewerLimit: 30, ViewerWindow: time.Minute, Factory: errTo(&stderr)}
	r, _ := startMock(t, o)
	var conf ReadyClient
	for _, c := range r.Clients {
		if c.Type == "confidential" {
			conf = c
		}
	}
	_, tok := post(t, r.IDURL+"/token", url.Values{"client_id": {conf.ID}, "client_secret": {conf.Secret}, "grant_type": {"client_credentials"}})
	users := func() *http.Response {
		req, _ := http.NewRequest("GET", r.APIURL+"/users?login=twitchdev", nil)
		req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
		req.Header.Set("Client-Id", conf.ID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i, want := range []int{200, 200, 429} {
		if resp := users(); resp.StatusCode != want || resp.Header.Get("Ratelimit-Limit") != "2" {
			t.Fatalf("request %d: %d (limit %s), want %d", i+1, resp.StatusCode, resp.Header.Get("Ratelimit-Limit"), want)
		}
	}
	if !strings.Contains(stderr.String(), "Helix buckets      2 points per 1h0m0s") {
		t.Errorf("banner: %s", stderr.String())
	}

	// The help's recipe: the exhaust endpoint, then a 429 until the reset.
	r2, _ := startMock(t, &Options{Listen: "127.0.0.1:0", UserTokenLifetime: time.Hour, AppTokenLifetime: time.Hour,
		HelixLimit: 800, HelixWindow: time.Minute, ViewerLimit: 30, ViewerWindow: time.Minute})
	var c2 ReadyClient
	for _, c := range r2.Clients {
		if c.Type == "confidential" {
			c2 = c
		}
	}
	resp, err := http.Post(r2.URL+"/_sandbox/ratelimit/exhaust", "application/json", strings.NewReader(`{"client_id":"`+c2.ID+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var ex map[string]any
	json.NewDecoder(resp.Body).Decode(&ex)
	resp.Body.Close()
	if resp.StatusCode != 200 || ex["limit"].(float64) != 800 || ex["remaining"].(float64) != 0 {
		t.Fatalf("exhaust: %d %v", resp.StatusCode, ex)
	}
	_, tok2 := post(t, r2.IDURL+"/token", url.Values{"client_id": {c2.ID}, "client_secret": {c2.Secret}, "grant_type": {"client_credentials"}})
	req, _ := http.NewRequest("GET", r2.APIURL+"/users?login=twitchdev", nil)
	req.Header.Set("Authorization", "Bearer "+tok2["access_token"].(string))
	req.Header.Set("Client-Id", c2.ID)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Ratelimit-Reset") != fmt.Sprint(int64(ex["reset"].(float64))) {
		t.Fatalf("after exhaust: %d reset %s (exhaust said %v)", resp.StatusCode, resp.Header.Get("Ratelimit-Reset"), ex["reset"])
	}

	f, help, _ := cliutil.NewTestFactory(nil, "")
	cmd := NewCmdMock(f, nil)
	cmd.SetOut(help)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--helix-limit", "--helix-window", "--viewer-limit", "To rehearse a 429", "/_sandbox/ratelimit/exhaust"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("mock --help lacks %q", want)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the mock's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestMockConsole(t *testing.T) {
	var stderr lockedBuffer
	state := filepath.Join(t.TempDir(), "state.json")
	r, stop := startMock(t, &Options{Listen: "127.0.0.1:0", StateFile: state, UserTokenLifetime: time.Hour, AppTokenLifetime: time.Hour, HelixLimit: 800, HelixWindow: time.Minute, ViewerLimit: 30, ViewerWindow: time.Minute, Factory: errTo(&stderr)})
	if r.ConsoleURL != r.URL+"/console/" {
		t.Fatalf("console_url %q (url %q)", r.ConsoleURL, r.URL)
	}
	if !strings.Contains(stderr.String(), "connections        "+r.URL+"/settings/connections") {
		t.Errorf("stderr does not name the Connections page: %s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "developer console  "+r.ConsoleURL) {
		t.Fatalf("stderr banner lacks the console URL:\n%s", stderr.String())
	}

	// A script registers an app through the console API; its ID and secret
	// work with the token endpoint at once.
	api := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, r.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	st, sess := api("POST", "/console/api/session", "", `{"login":"twitchdev"}`)
	if st != 201 {
		t.Fatalf("session: %d %v", st, sess)
	}
	tok := sess["token"].(string)
	st, app := api("POST", "/console/api/apps", tok, `{"name":"Mock Console App","redirect_urls":["http://localhost:3000"],"category":"Chat Bot","client_type":"confidential"}`)
	if st != 201 {
		t.Fatalf("register: %d %v", st, app)
	}
	id, secret := app["client_id"].(string), app["client_secret"].(string)
	if st, tok := post(t, r.IDURL+"/token", url.Values{"client_id": {id}, "client_secret": {secret}, "grant_type": {"client_credentials"}}); st != 200 {
		t.Fatalf("token with the console app: %d %v", st, tok)
	}
	if strings.Contains(stderr.String(), secret) {
		t.Fatal("the client secret reached the logs")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// The app survives a restart from the state file.
	r2, _ := startMock(t, &Options{Listen: "127.0.0.1:0", StateFile: state, UserTokenLifetime: time.Hour, AppTokenLifetime: time.Hour, HelixLimit: 800, HelixWindow: time.Minute, ViewerLimit: 30, ViewerWindow: time.Minute})
	found := false
	for _, c := range r2.Clients {
		found = found || (c.ID == id && c.Secret == secret && c.Name == "Mock Console App")
	}
	if !found {
		t.Fatalf("console app not in the ready line after restart: %+v", r2.Clients)
	}
}

// TestMockOutputStreams: without --json nothing goes to stdout and the
// banner (stderr) names every client with its made-up secret, but never a
// secret given with --client-secret; with --json the ready line is one
// compact object on stdout.
func TestMockOutputStreams(t *testing.T) {
	var stdout, stderr cliutil.Buffer
	f := &cliutil.Factory{IO: &cliutil.IOStreams{In: strings.NewReader(""), Out: &stdout, ErrOut: &stderr}}
	given := "a-secret-given-on-the-command-line"
	o := &Options{Listen: "127.0.0.1:0", ClientID: "givenclient", ClientSecret: given, UserTokenLifetime: time.Hour, AppTokenLifetime: time.Hour,
		HelixLimit: 800, HelixWindow: time.Minute, ViewerLimit: 30, ViewerWindow: time.Minute, Factory: f}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stderr.OnWrite = func(s string) {
		if strings.Contains(s, "Use it:") {
			cancel()
		}
	}
	go func() { done <- Run(ctx, o) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("no banner")
	}
	if stdout.String() != "" {
		t.Errorf("stdout without --json: %q", stdout.String())
	}
	banner := stderr.String()
	if strings.Contains(banner, given) || !strings.Contains(banner, "givenclient secret (as given with --client-secret)") {
		t.Errorf("the banner and the given secret:\n%s", banner)
	}
	if !regexp.MustCompile(`client extension +\S+ secret \S+`).MatchString(banner) || !strings.Contains(banner, "twitchdev (") {
		t.Errorf("the banner lacks the made-up clients or the users:\n%s", banner)
	}
	// With --json (startMock): one compact line.
	f2 := errTo(io.Discard)
	r, stop := startMock(t, &Options{Listen: "127.0.0.1:0", UserTokenLifetime: time.Hour, AppTokenLifetime: time.Hour,
		HelixLimit: 800, HelixWindow: time.Minute, ViewerLimit: 30, ViewerWindow: time.Minute, Factory: f2})
	stop()
	if r.IDURL == "" || len(r.Clients) != 3 {
		t.Errorf("ready line %+v", r)
	}
}
