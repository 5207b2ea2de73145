package token

import (
	"slices"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
)

// --for asks for exactly the smallest set the endpoints need, with -s's
// scopes added.
func TestForRequestsTheComputedSet(t *testing.T) {
	h := newHarness(t)
	res := h.run(Options{UserToken: true, For: []string{"POST /chat/messages", "GET /polls"}, JSON: true})
	wantCode(t, res, 0)
	r := decode(t, res.stdout)
	got := slices.Sorted(slices.Values(r.Scopes))
	if !slices.Equal(got, []string{"channel:read:polls", "user:write:chat"}) {
		t.Errorf("scopes = %v, want channel:read:polls user:write:chat", r.Scopes)
	}
	// Create Poll needs the manage scope, which also covers Get Polls.
	res = h.run(Options{UserToken: true, Force: true, Scopes: "chat:read", For: []string{"GET /polls", "POST /polls"}, JSON: true})
	wantCode(t, res, 0)
	r = decode(t, res.stdout)
	if strings.Join(r.Scopes, " ") != "chat:read channel:manage:polls" && strings.Join(r.Scopes, " ") != "channel:manage:polls chat:read" {
		t.Errorf("scopes = %v, want chat:read channel:manage:polls", r.Scopes)
	}
}

func TestForUsageErrors(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{For: []string{"GET /polls"}}, "--for only applies to user tokens"},
		{Options{UserToken: true, For: []string{"PUT /polls"}}, `did you mean "GET /polls"`},
		{Options{UserToken: true, For: []string{""}}, "empty name"},
		{Options{UserToken: true, For: []string{"GET /eventsub/conduits"}}, "takes app, not a user token"},
	} {
		res := h.run(c.o)
		if res.code != cliutil.ExitUsage || res.err == nil || !strings.Contains(res.err.Error(), c.want) {
			t.Errorf("%+v: exit %d (%v), want 2 mentioning %q", c.o, res.code, res.err, c.want)
		}
	}
}
