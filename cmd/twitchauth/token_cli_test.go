package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/internal/cli/clitest"
	"github.com/twitchauth/twitchauth/internal/cli/config"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// binary is the twitchauth program built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "twitchauth-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "twitchauth")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building twitchauth:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const binSecret = "binary-test-client-secret-abcdefghij"

type sandbox struct {
	srv     *twitchtest.Server
	client  twitchtest.Client
	port    int
	environ []string
	env     map[string]string
}

func newSandbox(t *testing.T, opts ...twitchtest.Option) *sandbox {
	t.Helper()
	port := clitest.FreePort(t)
	c := twitchtest.Client{ID: "binclient0123456789abcdefghijk", Secret: binSecret, Name: "binary test",
		RedirectURIs: []string{fmt.Sprintf("http://localhost:%d", port)}}
	srv := twitchtest.NewServer(t, append([]twitchtest.Option{twitchtest.WithClient(c), twitchtest.WithAutoApprove("twitchdev"),
		twitchtest.WithDeviceInterval(time.Second)}, opts...)...)
	_, environ, env := clitest.Env(t, map[string]string{
		config.EnvClientID: c.ID, config.EnvClientSecret: c.Secret,
		config.EnvIDURL: srv.IDURL(), config.EnvAPIURL: srv.APIURL(),
		"PATH": os.Getenv("PATH"),
	})
	return &sandbox{srv: srv, client: c, port: port, environ: environ, env: env}
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs the binary to completion. onStderr, if set, sees each stderr
// line as it is written.
func run(t *testing.T, environ []string, stdin string, onStderr func(line string), args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = environ
	cmd.Stdin = strings.NewReader(stdin)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	var stderr bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if onStderr != nil {
				onStderr(sc.Text())
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", args, err)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: code}
	if strings.Contains(r.stdout+r.stderr, binSecret) {
		t.Fatalf("the client secret leaked: %+v", r)
	}
	return r
}

func want(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
}

func jsonObject(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, s)
	}
	return m
}

// visitAuthorizeURL is an onStderr hook that completes the login like a
// browser as soon as the authorize URL is printed.
func visitAuthorizeURL(t *testing.T) func(string) {
	return func(line string) {
		if u := strings.TrimSpace(line); strings.HasPrefix(u, "http") && strings.Contains(u, "/authorize?") {
			go func() {
				if _, err := clitest.Visit(context.Background(), u); err != nil {
					t.Errorf("browser: %v", err)
				}
			}()
		}
	}
}

func TestBinaryAppTokenAndValidate(t *testing.T) {
	s := newSandbox(t)
	r := run(t, s.environ, "", nil, "token", "--json")
	want(t, r, 0)
	m := jsonObject(t, r.stdout)
	if m["kind"] != "app" || m["client_id"] != s.client.ID || m["token_type"] != "bearer" {
		t.Errorf("app token %v", m)
	}
	v := run(t, s.environ, "", nil, "token", "-v", m["access_token"].(string))
	want(t, v, 0)
	if !strings.Contains(v.stdout, "Token Type: App Access Token") {
		t.Errorf("validate: %s", v.stdout)
	}
}

// loginOnFreePort runs a browser login of the binary on the sandbox's
// registered port. The port was free when newSandbox probed it, but another
// process may bind it before the binary does: then the binary exits 4
// saying so, and the login is run again on a new port, registered first
// (at most three times).
func loginOnFreePort(t *testing.T, s *sandbox, args ...string) (result, string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := fmt.Sprint(s.port)
		r := run(t, s.environ, "", visitAuthorizeURL(t), append(args, "-p", port)...)
		if r.code != 4 || !strings.Contains(r.stderr, "already in use") || attempt == 3 {
			return r, port
		}
		t.Logf("port %s was taken before the binary bound it; trying another", port)
		s.port = clitest.FreePort(t)
		if _, err := s.srv.UpdateClient(s.client.ID, twitchtest.ClientUpdate{RedirectURIs: []string{fmt.Sprintf("http://localhost:%d", s.port)}}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBinaryLoginRetriesATakenPort: the race loginOnFreePort absorbs,
// forced: the registered port is taken before the binary runs.
func TestBinaryLoginRetriesATakenPort(t *testing.T) {
	s := newSandbox(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
	if err != nil {
		t.Skipf("the probed port is already gone: %v", err)
	}
	defer l.Close()
	taken := fmt.Sprint(s.port)
	r, port := loginOnFreePort(t, s, "token", "-u", "--no-browser", "--no-store", "--json")
	want(t, r, 0)
	if port == taken {
		t.Fatalf("logged in on the taken port %s", port)
	}
}

func TestBinaryCodeFlowAndCache(t *testing.T) {
	s := newSandbox(t)
	r, port := loginOnFreePort(t, s, "token", "-u", "-s", "chat:read chat:edit", "--no-browser", "--json")
	want(t, r, 0)
	m := jsonObject(t, r.stdout)
	if m["login"] != "twitchdev" || m["refresh_token"] == nil || m["cached"] != nil {
		t.Errorf("user token %v", m)
	}
	if _, err := time.Parse(time.RFC3339, m["expires_at"].(string)); err != nil {
		t.Errorf("expires_at: %v", err)
	}
	db := filepath.Join(s.env["XDG_DATA_HOME"], "twitchauth", "tokens.db")
	if st, err := os.Stat(db); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("store %v %v", st, err)
	}

	s.srv.ResetCounters()
	again := run(t, s.environ, "", func(l string) {
		if strings.Contains(l, "/authorize?") {
			t.Error("the second run asked for a login")
		}
	}, "token", "-u", "-s", "chat:read", "-p", port, "--no-browser")
	want(t, again, 0)
	if !strings.Contains(again.stdout, "User Access Token: "+m["access_token"].(string)) || s.srv.Requests("authorize") != 0 {
		t.Errorf("second run did not answer from the store:\n%s\n%s", again.stdout, again.stderr)
	}
}

func TestBinaryDeviceFlow(t *testing.T) {
	srv := twitchtest.NewServer(t, twitchtest.WithDeviceInterval(time.Second))
	_, environ, _ := clitest.Env(t, map[string]string{config.EnvClientID: srv.PublicClient().ID, config.EnvIDURL: srv.IDURL()})
	codeRE := regexp.MustCompile(`shows the code ([A-Z0-9]+)`)
	r := run(t, environ, "", func(l string) {
		if m := codeRE.FindStringSubmatch(l); m != nil {
			go srv.ApproveDevice(m[1], "viewer")
		}
	}, "token", "--dcf", "-s", "user:read:email", "--json")
	want(t, r, 0)
	if m := jsonObject(t, r.stdout); m["login"] != "viewer" {
		t.Errorf("device token %v", m)
	}
}

func TestBinaryConfigureAndEnvOverride(t *testing.T) {
	s := newSandbox(t)
	// Only the URLs in the environment: the client comes from the file.
	var environ []string
	for _, kv := range s.environ {
		if !strings.HasPrefix(kv, config.EnvClientID+"=") && !strings.HasPrefix(kv, config.EnvClientSecret+"=") {
			environ = append(environ, kv)
		}
	}
	noConfig := run(t, environ, "", nil, "token")
	want(t, noConfig, 2)
	if !strings.Contains(noConfig.stderr, "twitchauth configure") || !strings.Contains(noConfig.stderr, config.EnvClientID) {
		t.Errorf("no configuration message: %s", noConfig.stderr)
	}

	c := run(t, environ, binSecret+"\n", nil, "configure", "--client-id", s.client.ID, "--secret-stdin")
	want(t, c, 0)
	path := filepath.Join(s.env["XDG_CONFIG_HOME"], "twitchauth", "config.json")
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file %v %v", st, err)
	}
	want(t, run(t, environ, "", nil, "token"), 0)

	show := run(t, environ, "", nil, "configure", "--show")
	want(t, show, 0)
	if !strings.Contains(show.stdout, "Client Secret: (set, hidden)") {
		t.Errorf("--show: %s", show.stdout)
	}

	// The environment overrides the file: a wrong client ID there fails.
	bad := run(t, append(environ, config.EnvClientID+"=unknownclient"), "", nil, "token")
	want(t, bad, 1)
}

func TestBinaryErrorExitCodes(t *testing.T) {
	s := newSandbox(t)
	wrong := run(t, s.environ, "", nil, "token", "--secret", "definitely-wrong-secret")
	want(t, wrong, 1)
	if strings.Contains(wrong.stderr, "definitely-wrong-secret") || !strings.Contains(wrong.stderr, "secret") {
		t.Errorf("wrong secret message: %s", wrong.stderr)
	}

	// A port this test holds: busy for the binary, whoever else runs.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	taken := l.Addr().(*net.TCPAddr).Port
	busy := run(t, s.environ, "", nil, "token", "-u", "-p", fmt.Sprint(taken), "--no-browser", "--no-store")
	l.Close()
	want(t, busy, 4)
	if !strings.Contains(busy.stderr, fmt.Sprintf("port %d", taken)) {
		t.Errorf("port in use message: %s", busy.stderr)
	}

	dead := "http://" + clitest.RefusedAddr(t) + "/oauth2"
	want(t, run(t, append(s.environ, config.EnvIDURL+"="+dead), "", nil, "token"), 3)
	want(t, run(t, s.environ, "", nil, "token", "-v", "a", "-r", "b"), 2)
	want(t, run(t, s.environ, "", nil, "token", "--bogus-flag"), 2)
}

func TestBinaryCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := run(t, []string{"HOME=" + t.TempDir()}, "", nil, "completion", shell)
		want(t, r, 0)
		if !strings.Contains(r.stdout, "twitchauth") || len(r.stdout) < 500 {
			t.Errorf("%s completion script looks wrong (%d bytes)", shell, len(r.stdout))
		}
	}
	// Dynamic completion of the token command's flags.
	r := run(t, []string{"HOME=" + t.TempDir()}, "", nil, "__complete", "token", "--")
	want(t, r, 0)
	for _, flag := range []string{"--user-token", "--dcf", "--scopes", "--json"} {
		if !strings.Contains(r.stdout, flag) {
			t.Errorf("completion lacks %s", flag)
		}
	}
}
