package broker

import (
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/internal/testkit"
)

// TestEventSubTwitchCLI drives the broker's /eventsub with twitch-cli:
// verify-subscription and trigger user.authorization.revoke pass with the
// broker's secret (the revoke for its client ID stops the held grant) and
// fail with a wrong secret or a stale timestamp (the grant stays served).
func TestEventSubTwitchCLI(t *testing.T) {
	bin := testkit.TwitchCLI(t)
	e := newEnv(t, func(c *Config) { c.EventSubSecret = testESSecret })
	u := sandboxUser(t, e.sb, 0)
	e.connect(e.browser(), u.Login).Body.Close()
	url := e.srv.URL + EventSubPath
	served := func() bool { code, _ := e.get("/v1/token/user/"+u.ID, e.keys[PermTokenUser]); return code == 200 }
	const stale = "2020-01-01T00:00:00Z"
	const wrong = "wrong-secret-0123456789"

	t.Run("verify-subscription", func(t *testing.T) {
		out := testkit.CLIRun(t, bin, "event", "verify-subscription", "user.authorization.revoke", "-F", url, "-s", string(testESSecret), "-D")
		ok := testkit.CLILines(out, "✔")
		if len(ok) != 3 || len(testkit.CLILines(out, "✗")) != 0 || !strings.HasPrefix(ok[0], "✔ Valid response. Received challenge") ||
			!strings.HasPrefix(ok[2], "✔ Valid status code. Received status 200") {
			t.Fatalf("want three ✔ checks, got:\n%s", out)
		}
	})
	for name, args := range map[string][]string{
		"verify-subscription wrong secret": {"-s", wrong},
		"verify-subscription stale":        {"-s", string(testESSecret), "--timestamp", stale},
	} {
		t.Run(name, func(t *testing.T) {
			out := testkit.CLIRun(t, bin, append([]string{"event", "verify-subscription", "user.authorization.revoke", "-F", url, "-D"}, args...)...)
			if len(testkit.CLILines(out, "✔ Valid response")) != 0 || len(testkit.CLILines(out, "✗ Invalid status code")) != 1 {
				t.Fatalf("want the challenge refused, got:\n%s", out)
			}
		})
	}
	trigger := func(args ...string) string {
		return testkit.CLIRun(t, bin, append([]string{"event", "trigger", "user.authorization.revoke", "-F", url, "-D",
			"--client-id", e.client.ID, "-f", u.ID}, args...)...)
	}
	for name, args := range map[string][]string{
		"trigger revoke wrong secret": {"-s", wrong},
		"trigger revoke stale":        {"-s", string(testESSecret), "--timestamp", stale},
	} {
		t.Run(name, func(t *testing.T) {
			out := trigger(args...)
			if len(testkit.CLILines(out, "✔")) != 0 || len(testkit.CLILines(out, "✗ Invalid response. Received Status Code: 4")) != 1 {
				t.Fatalf("want ✗ and a 4xx, got:\n%s", out)
			}
			if !served() {
				t.Fatal("a refused message stopped the grant")
			}
		})
	}
	t.Run("trigger revoke other client", func(t *testing.T) {
		out := testkit.CLIRun(t, bin, "event", "trigger", "user.authorization.revoke", "-F", url, "-D", "--client-id", "someotherclient", "-f", u.ID, "-s", string(testESSecret))
		if l := testkit.CLILines(out, "✔ Request Sent"); len(l) != 1 || !strings.Contains(l[0], "Received Status Code: 204") {
			t.Fatalf("want ✔ 204, got:\n%s", out)
		}
		if !served() {
			t.Fatal("a revoke for another client ID stopped the grant")
		}
	})
	t.Run("trigger revoke", func(t *testing.T) {
		out := trigger("-s", string(testESSecret), "--from-user-name", u.Login)
		if l := testkit.CLILines(out, "✔ Request Sent"); len(l) != 1 || !strings.Contains(l[0], "Received Status Code: 204") || len(testkit.CLILines(out, "✗")) != 0 {
			t.Fatalf("want ✔ 204, got:\n%s", out)
		}
		if served() {
			t.Fatal("the grant is still served after a verified revoke")
		}
	})
}
