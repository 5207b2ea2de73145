package rig

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/extension"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	rigpkg "github.com/twitchauth/twitchauth/rig"
)

func TestRunServesAndStops(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "panel.html"), []byte(`<head><script src="https://extension-files.twitch.tv/helper/v1/twitch-ext.min.js"></script></head>`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, logs cliutil.Buffer
	urlc := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := &Options{Dir: dir, Listen: "127.0.0.1:0", SandboxListen: "127.0.0.1:0", EBS: "http://127.0.0.1:9123",
		JWTLifetime: time.Minute, ExpiredRecovery: time.Second, ViewerLimit: 30, ViewerWindow: time.Minute, JSON: true,
		Factory: &cliutil.Factory{IO: &cliutil.IOStreams{Out: &out, ErrOut: &logs}}, ready: func(u string) { urlc <- u }}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	var base string
	select {
	case base = <-urlc:
	case err := <-done:
		t.Fatalf("Run: %v\n%s", err, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("rig not ready in 10s")
	}
	// The banner goes to stderr; --json's ready line alone to stdout.
	banner := logs.String()
	var ready Ready
	if err := json.Unmarshal([]byte(out.String()), &ready); err != nil || strings.Count(out.String(), "\n") != 1 ||
		ready.URL != base+"/" || ready.EBSURL != "http://127.0.0.1:9123" || ready.ClientID == "" || ready.SecretFile == "" {
		t.Errorf("stdout is not the ready line: %q (%v)", out.String(), err)
	}
	for _, want := range []string{"channel page   " + base + "/", "EBS            http://127.0.0.1:9123", "EBS_ALLOWED_ORIGINS=" + base, " EBS_ADDR=127.0.0.1:9123 go run ./examples/extension"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	m := regexp.MustCompile(`secret file    (\S+) \(0600\)`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no secret file in the banner:\n%s", banner)
	}
	st, err := os.Stat(m[1])
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", st, err)
	}
	raw, _ := os.ReadFile(m[1])
	sec, err := extension.ParseSecret(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String()+out.String(), strings.TrimSpace(string(raw))) {
		t.Error("the secret appears in the logs")
	}
	// A token minted through the rig verifies with the written secret.
	resp, err := http.Post(base+"/api/auth", "application/json", strings.NewReader(`{"viewer":"broadcaster"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Token string `json:"token"`
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := jsonUnmarshal(b, &body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("auth: %d %s", resp.StatusCode, b)
	}
	v, _ := extension.NewVerifier(extension.NewKeyring(sec), extension.VerifierConfig{})
	if c, err := v.Verify(context.Background(), body.Token); err != nil || c.Role != extension.RoleBroadcaster {
		t.Errorf("token vs secret file: %v", err)
	}
	if resp, err := http.Get(base + "/ext/panel.html"); err != nil || resp.Header.Get("X-Twitchauth-Rig-Helper") != "substituted" {
		t.Errorf("panel: %v", err)
	} else {
		resp.Body.Close()
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary secret file left behind: %v", err)
	}
}

func TestRunRefusals(t *testing.T) {
	ctx := context.Background()
	for name, o := range map[string]*Options{
		"no dir":       {Listen: "127.0.0.1:0"},
		"missing dir":  {Dir: filepath.Join(t.TempDir(), "nope"), Listen: "127.0.0.1:0"},
		"bad limit":    {Dir: t.TempDir(), Listen: "127.0.0.1:0", SandboxListen: "127.0.0.1:0", ViewerLimit: 0, ViewerWindow: time.Minute},
		"bad EBS":      {Dir: t.TempDir(), Listen: "127.0.0.1:0", SandboxListen: "127.0.0.1:0", ViewerLimit: 1, ViewerWindow: time.Minute, EBS: "nope"},
		"bad sandbox":  {Dir: t.TempDir(), Listen: "127.0.0.1:0", SandboxURL: "ftp://x"},
		"tiny TTL":     {Dir: t.TempDir(), Listen: "127.0.0.1:0", SandboxListen: "127.0.0.1:0", ViewerLimit: 1, ViewerWindow: time.Minute, JWTLifetime: time.Second},
		"bad rig addr": {Dir: t.TempDir(), Listen: "256.0.0.1:x", SandboxListen: "127.0.0.1:0", ViewerLimit: 1, ViewerWindow: time.Minute},
	} {
		err := Run(ctx, o)
		var ee *cliutil.ExitError
		if !errors.As(err, &ee) || ee.Code == cliutil.ExitOK {
			t.Errorf("%s: %v", name, err)
		}
		if name == "no dir" && ee.Code != cliutil.ExitUsage {
			t.Errorf("no dir: exit %d", ee.Code)
		}
	}
}

func TestPrintHelper(t *testing.T) {
	f, out, _ := cliutil.NewTestFactory(nil, "")
	if err := Run(context.Background(), &Options{PrintHelper: true, Factory: f}); err != nil {
		t.Fatal(err)
	}
	if out.String() != string(rigpkg.HelperJS()) {
		t.Error("--print-helper output differs from the embedded helper")
	}
}

func TestCommandFlags(t *testing.T) {
	f, _, _ := cliutil.NewTestFactory(nil, "")
	var got *Options
	cmd := NewCmdRig(f, func(_ context.Context, o *Options) error { got = o; return nil })
	for _, f := range []string{"dir", "listen", "ebs", "sandbox-url", "sandbox-listen", "jwt-lifetime", "expired-recovery", "viewer-limit", "viewer-window", "extension-secret-file", "no-csp", "print-helper", "json"} {
		if cmd.Flags().Lookup(f) == nil {
			t.Errorf("no --%s flag", f)
		}
	}
	if got := cmd.Flags().Lookup("listen").DefValue; got != DefaultListen || got == "127.0.0.1:8080" {
		t.Errorf("--listen default %q (serve has 127.0.0.1:8080)", got)
	}
	// The old spellings set the same options.
	cmd.SetArgs([]string{"--dir", ".", "--addr", "127.0.0.1:1", "--sandbox-addr", "127.0.0.1:2", "--token-ttl", "3m", "--secret-file", "s", "-v"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Listen != "127.0.0.1:1" || got.SandboxListen != "127.0.0.1:2" || got.JWTLifetime != 3*time.Minute || got.SecretFile != "s" || got.LogLevel != "debug" {
		t.Errorf("old spellings: %+v", got)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestEBSListenListen: the start hint's EBS_ADDR follows --ebs.
func TestEBSListenAddr(t *testing.T) {
	for _, tc := range []struct{ ebs, addr, note string }{
		{"", "127.0.0.1:8081", "--ebs http://127.0.0.1:8081"},
		{"http://127.0.0.1:9000", "127.0.0.1:9000", ""},
		{"http://localhost:9001/api", "127.0.0.1:9001", ""},
		{"http://[::1]:9002", "[::1]:9002", ""},
		{"http://ebs.example.com", "127.0.0.1:80", "--ebs names ebs.example.com"},
		{"https://127.0.0.1:9443", "127.0.0.1:9443", "plain http"},
	} {
		addr, note := ebsListenAddr(tc.ebs)
		if addr != tc.addr || (tc.note == "") != (note == "") || !strings.Contains(note, tc.note) {
			t.Errorf("ebsListenAddr(%q) = %q, %q; want %q, …%q…", tc.ebs, addr, note, tc.addr, tc.note)
		}
	}
}
