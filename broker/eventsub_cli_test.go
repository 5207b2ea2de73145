package broker

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// twitchCLI returns the twitch-cli binary named by TWITCHAUTH_TWITCH_CLI,
// found on PATH as "twitch" or at /opt/twitch-cli/twitch, or skips.
func twitchCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TWITCHAUTH_TWITCH_CLI"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("TWITCHAUTH_TWITCH_CLI=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("twitch"); err == nil {
		return p
	}
	if _, err := os.Stat("/opt/twitch-cli/twitch"); err == nil {
		return "/opt/twitch-cli/twitch"
	}
	t.Skip("twitch-cli not found: set TWITCHAUTH_TWITCH_CLI or put twitch on PATH")
	return ""
}

// cliRun runs twitch-cli offline and returns its output (its exit code
// says nothing about the answer: the ✔/✗ lines do).
func cliRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	dir := t.TempDir()
	cmd.Env = append(os.Environ(), "TWITCH_DISABLE_UPDATE_CHECKS=true", "XDG_CONFIG_HOME="+dir, "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("twitch %s: timed out", strings.Join(args, " "))
	}
	if err != nil {
		t.Logf("twitch %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// cliLines returns the output lines starting with prefix (✔ or ✗).
func cliLines(out, prefix string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, prefix) {
			got = append(got, l)
		}
	}
	return got
}

// TestEventSubTwitchCLI drives the broker's /eventsub with twitch-cli:
// verify-subscription and trigger user.authorization.revoke pass with the
// broker's secret (the revoke for its client ID stops the held grant) and
// fail with a wrong secret or a stale timestamp (the grant stays served).
func TestEventSubTwitchCLI(t *testing.T) {
	bin := twitchCLI(t)
	e := newEnv(t, func(c *Config) { c.EventSubSecret = testESSecret })
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close()
	url := e.srv.URL + EventSubPath
	served := func() bool { code, _ := e.get("/v1/token/user/"+u.ID, e.keys[PermTokenUser]); return code == 200 }
	const stale = "2020-01-01T00:00:00Z"
	const wrong = "wrong-secret-0123456789"

	t.Run("verify-subscription", func(t *testing.T) {
		out := cliRun(t, bin, "event", "verify-subscription", "user.authorization.revoke", "-F", url, "-s", string(testESSecret), "-D")
		ok := cliLines(out, "✔")
		if len(ok) != 3 || len(cliLines(out, "✗")) != 0 || !strings.HasPrefix(ok[0], "✔ Valid response. Received challenge") ||
			!strings.HasPrefix(ok[2], "✔ Valid status code. Received status 200") {
			t.Fatalf("want three ✔ checks, got:\n%s", out)
		}
	})
	for name, args := range map[string][]string{
		"verify-subscription wrong secret": {"-s", wrong},
		"verify-subscription stale":        {"-s", string(testESSecret), "--timestamp", stale},
	} {
		t.Run(name, func(t *testing.T) {
			out := cliRun(t, bin, append([]string{"event", "verify-subscription", "user.authorization.revoke", "-F", url, "-D"}, args...)...)
			if len(cliLines(out, "✔ Valid response")) != 0 || len(cliLines(out, "✗ Invalid status code")) != 1 {
				t.Fatalf("want the challenge refused, got:\n%s", out)
			}
		})
	}
	trigger := func(args ...string) string {
		return cliRun(t, bin, append([]string{"event", "trigger", "user.authorization.revoke", "-F", url, "-D",
			"--client-id", e.client.ID, "-f", u.ID}, args...)...)
	}
	for name, args := range map[string][]string{
		"trigger revoke wrong secret": {"-s", wrong},
		"trigger revoke stale":        {"-s", string(testESSecret), "--timestamp", stale},
	} {
		t.Run(name, func(t *testing.T) {
			out := trigger(args...)
			if len(cliLines(out, "✔")) != 0 || len(cliLines(out, "✗ Invalid response. Received Status Code: 4")) != 1 {
				t.Fatalf("want ✗ and a 4xx, got:\n%s", out)
			}
			if !served() {
				t.Fatal("a refused message stopped the grant")
			}
		})
	}
	t.Run("trigger revoke other client", func(t *testing.T) {
		out := cliRun(t, bin, "event", "trigger", "user.authorization.revoke", "-F", url, "-D", "--client-id", "someotherclient", "-f", u.ID, "-s", string(testESSecret))
		if l := cliLines(out, "✔ Request Sent"); len(l) != 1 || !strings.Contains(l[0], "Received Status Code: 204") {
			t.Fatalf("want ✔ 204, got:\n%s", out)
		}
		if !served() {
			t.Fatal("a revoke for another client ID stopped the grant")
		}
	})
	t.Run("trigger revoke", func(t *testing.T) {
		out := trigger("-s", string(testESSecret), "--from-user-name", u.Login)
		if l := cliLines(out, "✔ Request Sent"); len(l) != 1 || !strings.Contains(l[0], "Received Status Code: 204") || len(cliLines(out, "✗")) != 0 {
			t.Fatalf("want ✔ 204, got:\n%s", out)
		}
		if served() {
			t.Fatal("the grant is still served after a verified revoke")
		}
	})
}
