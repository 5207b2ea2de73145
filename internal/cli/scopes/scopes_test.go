package scopes_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/root"
	cliscopes "github.com/twitchauth/twitchauth/internal/cli/scopes"
	"github.com/twitchauth/twitchauth/scopes"
)

// run runs the real command tree: twitchauth scopes ARGS...
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	f, out, _ := cliutil.NewTestFactory(nil, "")
	cmd := root.NewCmdRoot(f)
	cmd.SetArgs(append([]string{"scopes"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func exitCode(err error) int {
	var ee *cliutil.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestScopesDetails(t *testing.T) {
	out, err := run(t, "POST /chat/messages", "GET /polls")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"POST /chat/messages (Send Chat Message)\n  token:      app or user\n  scopes:     user:write:chat, from the user\n" +
			"  app token:  also user:bot from the user\n              and channel:bot from the broadcaster (unless the user is a moderator of the channel)\n",
		"GET /polls (Get Polls)\n  token:      user\n  scopes:     channel:read:polls or channel:manage:polls, from the broadcaster\n" +
			"  reference:  https://dev.twitch.tv/docs/api/reference/#get-polls\n",
		"\nScopes for one user token: channel:read:polls user:write:chat\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks\n%s\n--- output:\n%s", want, out)
		}
	}
	out, err = run(t, "GET /users")
	if err != nil || !strings.Contains(out, "A user token needs no scope for these.") || !strings.Contains(out, "optional:   user:read:email") {
		t.Errorf("Get Users: %v\n%s", err, out)
	}
	out, err = run(t, "GET /channels/followers")
	if err != nil || !strings.Contains(out, "less data instead of refusing") {
		t.Errorf("Get Channel Followers: %v\n%s", err, out)
	}
}

func TestScopesJSON(t *testing.T) {
	out, err := run(t, "--json", "GET /polls", "POST /polls", "channel.chat.message")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	var polls cliscopes.Requirement
	if err := json.Unmarshal([]byte(lines[0]), &polls); err != nil {
		t.Fatal(err)
	}
	if polls.Key != "GET /polls" || polls.Method != "GET" || polls.Path != "/polls" || polls.Role != "broadcaster" ||
		len(polls.Need) != 1 || len(polls.Need[0]) != 2 || strings.Join(polls.Scopes, " ") != "channel:read:polls" ||
		strings.Join(polls.Tokens, " ") != "user" {
		t.Errorf("Get Polls: %+v", polls)
	}
	var chat cliscopes.Requirement
	if err := json.Unmarshal([]byte(lines[2]), &chat); err != nil {
		t.Fatal(err)
	}
	if chat.Type != "channel.chat.message" || chat.Version != "1" || len(chat.AppGrants) != 2 ||
		chat.AppGrants[1].Of != "broadcaster" || !chat.AppGrants[1].UnlessModerator {
		t.Errorf("channel.chat.message: %+v", chat)
	}
	var combined struct{ Combined []string }
	if err := json.Unmarshal([]byte(lines[3]), &combined); err != nil {
		t.Fatal(err)
	}
	if strings.Join(combined.Combined, " ") != "channel:manage:polls user:read:chat" {
		t.Errorf("combined %v", combined.Combined)
	}
	if strings.Contains(out, "\\u003e") || strings.Contains(out, "\n\n") {
		t.Errorf("not compact lines:\n%s", out)
	}
}

func TestScopesList(t *testing.T) {
	n := len(scopes.Endpoints()) + len(scopes.EventSubTypes())
	out, err := run(t)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != n+1 || !strings.HasPrefix(lines[0], "ENDPOINT") {
		t.Fatalf("%d lines for %d requirements", len(lines), n)
	}
	if !strings.Contains(out, "GET /polls ") || !strings.Contains(out, "channel:read:polls or channel:manage:polls (the broadcaster)") {
		t.Errorf("no Get Polls line")
	}
	out, err = run(t, "--json")
	if err != nil || strings.Count(out, "\n") != n || strings.Contains(out, `"combined"`) {
		t.Errorf("--json without names: %v, %d lines", err, strings.Count(out, "\n"))
	}
}

func TestScopesUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"PUT /polls"}, {""}, {"  "}, {"GET"}, {"GET /polls", "channel.nope"}} {
		out, err := run(t, args...)
		if exitCode(err) != cliutil.ExitUsage || out != "" {
			t.Errorf("%q: exit %d (%v), output %q", args, exitCode(err), err, out)
		}
	}
	if _, err := run(t, " "); err == nil || !strings.Contains(err.Error(), "empty name") {
		t.Errorf("empty name: %v", err)
	}
	_, err := run(t, "PUT /polls")
	if err == nil || !strings.Contains(err.Error(), `did you mean "GET /polls"`) {
		t.Errorf("no suggestion: %v", err)
	}
}
