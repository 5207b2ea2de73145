package scopes_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/scopes"
)

func lookup(t *testing.T, name string) scopes.Requirement {
	t.Helper()
	r, err := scopes.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every scope the table names is one Twitch's scopes page lists.
func TestEveryScopeIsListed(t *testing.T) {
	if len(scopes.Catalogue()) < 50 {
		t.Fatalf("the catalogue has %d scopes", len(scopes.Catalogue()))
	}
	n := 0
	for _, r := range slices.Concat(scopes.Endpoints(), scopes.EventSubTypes()) {
		all := slices.Concat(r.Need.Scopes(), r.Optional)
		for _, g := range r.AppGrants {
			all = append(all, g.Need.Scopes()...)
		}
		for _, s := range all {
			n++
			if !scopes.Known(s) {
				t.Errorf("%s names %q, which the scopes page does not list", r.Key, s)
			}
		}
	}
	if n < 100 {
		t.Errorf("only %d scope mentions in the table", n)
	}
	if scopes.Known("channel:read:poll") || scopes.Known("") {
		t.Error("Known accepts a scope Twitch does not list")
	}
}

// The table covers every endpoint and subscription type of the reference.
func TestCoverage(t *testing.T) {
	src := scopes.Source()
	if src.ReferenceEndpoints < 140 || src.EventSubTypes < 80 {
		t.Fatalf("source counts %+v", src)
	}
	if got := len(scopes.Endpoints()); got != src.ReferenceEndpoints {
		t.Errorf("%d endpoints in the table, the reference documents %d", got, src.ReferenceEndpoints)
	}
	if got := len(scopes.EventSubTypes()); got != src.EventSubTypes {
		t.Errorf("%d subscription types in the table, the reference documents %d", got, src.EventSubTypes)
	}
	for _, f := range []string{src.Repository, src.Commit, src.CommitDate, src.ReferenceDate, src.EventSubDate, src.ScopesDate} {
		if f == "" {
			t.Errorf("provenance has an empty field: %+v", src)
		}
	}
	keys := map[string]bool{}
	for _, r := range slices.Concat(scopes.Endpoints(), scopes.EventSubTypes()) {
		if keys[r.Key] {
			t.Errorf("%s twice", r.Key)
		}
		keys[r.Key] = true
		if r.Tokens == 0 || r.Name == "" || !strings.HasPrefix(r.Doc, "https://dev.twitch.tv/docs/") {
			t.Errorf("incomplete entry %+v", r)
		}
		if (len(r.Need) > 0) != (r.Role != scopes.NoRole) {
			t.Errorf("%s: role %v with need %v", r.Key, r.Role, r.Need)
		}
		got, err := scopes.Lookup(r.Key)
		if err != nil || got.Key != r.Key {
			t.Errorf("Lookup(%q) = %v, %v", r.Key, got.Key, err)
		}
	}
}

// Get Polls takes either channel:read:polls or channel:manage:polls
// (Twurple's table wrongly demanded the manage scope, twurple#621).
func TestAnyOfGetPolls(t *testing.T) {
	r := lookup(t, "GET /polls")
	want := scopes.Need{{"channel:read:polls", "channel:manage:polls"}}
	if !slices.EqualFunc(r.Need, want, func(a, b scopes.AnyOf) bool { return slices.Equal(a, b) }) {
		t.Fatalf("need %v, want %v", r.Need, want)
	}
	for _, have := range [][]string{{"channel:read:polls"}, {"channel:manage:polls"}, {"bits:read", "channel:manage:polls"}} {
		if !r.Need.SatisfiedBy(have) {
			t.Errorf("%v does not satisfy %v", have, r.Need)
		}
	}
	if r.Need.SatisfiedBy([]string{"bits:read"}) || r.Need.SatisfiedBy(nil) {
		t.Error("satisfied without a polls scope")
	}
	if got := r.Missing([]string{"bits:read"}); !slices.Equal(got, []string{"channel:read:polls"}) {
		t.Errorf("missing %v", got)
	}
	if r.Tokens != scopes.User || r.Role != scopes.Broadcaster {
		t.Errorf("tokens %v role %v", r.Tokens, r.Role)
	}
	// The read scope alone; the manage scope alone once Create Poll needs it.
	for _, c := range []struct {
		names []string
		want  []string
	}{
		{[]string{"GET /polls"}, []string{"channel:read:polls"}},
		{[]string{"GET /polls", "POST /polls"}, []string{"channel:manage:polls"}},
		{[]string{"POST /chat/messages", "GET /polls"}, []string{"channel:read:polls", "user:write:chat"}},
	} {
		got, err := scopes.For(c.names...)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("For(%q) = %v, %v; want %v", c.names, got, err, c.want)
		}
	}
}

// Send Chat Message takes a user token with user:write:chat, or an app token
// when the sender granted user:bot (and user:write:chat) and the
// broadcaster channel:bot — unless the sender is a moderator.
func TestAppTokenChat(t *testing.T) {
	r := lookup(t, "POST /chat/messages")
	if !r.Tokens.Has(scopes.App|scopes.User) || r.Role != scopes.TheUser {
		t.Fatalf("tokens %v role %v", r.Tokens, r.Role)
	}
	if !r.Need.SatisfiedBy([]string{"user:write:chat"}) || r.Need.SatisfiedBy([]string{"user:bot"}) {
		t.Errorf("need %v", r.Need)
	}
	if len(r.AppGrants) != 2 {
		t.Fatalf("app grants %v", r.AppGrants)
	}
	sender, bc := r.AppGrants[0], r.AppGrants[1]
	if sender.Of != scopes.TheUser || !slices.Equal(sender.Need.Scopes(), []string{"user:bot"}) || sender.UnlessModerator {
		t.Errorf("sender's grant %v", sender)
	}
	if bc.Of != scopes.Broadcaster || !slices.Equal(bc.Need.Scopes(), []string{"channel:bot"}) || !bc.UnlessModerator {
		t.Errorf("broadcaster's grant %v", bc)
	}
	if r.Note == "" {
		t.Error("a hand-made correction without its source")
	}
	if s := r.String(); !strings.Contains(s, "channel:bot from the broadcaster (unless the user is a moderator") {
		t.Errorf("String: %s", s)
	}
	// A user token needs only user:write:chat.
	if got, _ := scopes.For("POST /chat/messages"); !slices.Equal(got, []string{"user:write:chat"}) {
		t.Errorf("For = %v", got)
	}
	// The chat EventSub types carry the same rule.
	es := lookup(t, "channel.chat.message")
	if len(es.AppGrants) != 2 || !es.Need.SatisfiedBy([]string{"user:read:chat"}) {
		t.Errorf("channel.chat.message: %v", es)
	}
}

// Moderation endpoints take the grant of the broadcaster or of one of their
// moderators; Guest Star accepts the channel or the moderator scopes.
func TestModeratorOrBroadcaster(t *testing.T) {
	for _, key := range []string{"POST /moderation/bans", "DELETE /moderation/bans", "GET /chat/chatters", "PUT /moderation/shield_mode", "channel.follow v2"} {
		r := lookup(t, key)
		if r.Role != scopes.Moderator {
			t.Errorf("%s: role %v, want the broadcaster or a moderator", key, r.Role)
		}
	}
	if s := scopes.Moderator.String(); s != "the broadcaster or a moderator" {
		t.Errorf("Moderator.String = %q", s)
	}
	// The broadcaster-only ones stay the broadcaster's.
	for _, key := range []string{"POST /moderation/moderators", "GET /polls", "POST /raids"} {
		if r := lookup(t, key); r.Role != scopes.Broadcaster {
			t.Errorf("%s: role %v, want the broadcaster", key, r.Role)
		}
	}
	gs := lookup(t, "GET /guest_star/session")
	if gs.Role != scopes.Moderator || !gs.Need.SatisfiedBy([]string{"moderator:read:guest_star"}) || !gs.Need.SatisfiedBy([]string{"channel:read:guest_star"}) {
		t.Errorf("Get Guest Star Session: %v", gs)
	}
	// Get Moderators: moderation:read, "or channel:manage:moderators instead".
	if m := lookup(t, "GET /moderation/moderators"); !m.Need.SatisfiedBy([]string{"channel:manage:moderators"}) || !m.Need.SatisfiedBy([]string{"moderation:read"}) {
		t.Errorf("Get Moderators: %v", m.Need)
	}
}

// channel.moderate needs all of several read-or-manage pairs.
func TestAllOfAnyOf(t *testing.T) {
	r := lookup(t, "channel.moderate")
	if r.Version != "2" {
		t.Errorf("latest channel.moderate is v%s", r.Version)
	}
	got, err := scopes.For("channel.moderate v2")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"moderator:read:banned_users", "moderator:read:blocked_terms", "moderator:read:chat_messages", "moderator:read:chat_settings",
		"moderator:read:moderators", "moderator:read:unban_requests", "moderator:read:vips", "moderator:read:warnings"}
	if !slices.Equal(got, want) {
		t.Errorf("For = %v\nwant %v", got, want)
	}
	if r.Need.SatisfiedBy(want[:7]) {
		t.Error("satisfied without the warnings scope")
	}
	if v1 := lookup(t, "channel.moderate v1"); v1.Version != "1" || len(v1.Need) != 7 {
		t.Errorf("v1: %v", v1)
	}
}

func TestLookupForms(t *testing.T) {
	for name, key := range map[string]string{
		"post /chat/messages":                            "POST /chat/messages",
		"POST https://api.twitch.tv/helix/chat/messages": "POST /chat/messages",
		"GET /helix/polls/":                              "GET /polls",
		"GET polls?broadcaster_id=1":                     "GET /polls",
		"channel.moderate 1":                             "channel.moderate v1",
		"channel.moderate v2":                            "channel.moderate v2",
		"channel.guest_star_session.begin":               "channel.guest_star_session.begin beta",
		"channel.guest_star_session.begin beta":          "channel.guest_star_session.begin beta",
	} {
		r, err := scopes.Lookup(name)
		if err != nil || r.Key != key {
			t.Errorf("Lookup(%q) = %q, %v; want %q", name, r.Key, err, key)
		}
	}
	for name, hint := range map[string]string{
		"PUT /polls":      `"GET /polls"`,
		"GET":             "give the method and the path",
		"":                "empty name",
		"channel.moder":   `"channel.moderate v1"`,
		"GET /nonsense":   "",
		"channel.none v9": "",
	} {
		_, err := scopes.Lookup(name)
		if !errors.Is(err, scopes.ErrUnknown) || !strings.Contains(err.Error(), hint) {
			t.Errorf("Lookup(%q): %v (want ErrUnknown mentioning %q)", name, err, hint)
		}
	}
	if _, err := scopes.For("GET /polls", "GET /nope"); !errors.Is(err, scopes.ErrUnknown) {
		t.Errorf("For with an unknown endpoint: %v", err)
	}
	if _, ok := scopes.Endpoint("get", "/polls"); !ok {
		t.Error("Endpoint is case-sensitive about the method")
	}
}

func TestMinimal(t *testing.T) {
	for _, c := range []struct {
		name string
		need scopes.Need
		want []string
	}{
		{"empty", nil, nil},
		{"empty clause ignored", scopes.Need{{}}, nil},
		{"singletons", scopes.All("b", "a", "b"), []string{"a", "b"}},
		{"first alternative preferred", scopes.Need{{"r", "m"}}, []string{"r"}},
		{"forced alternative", scopes.Need{{"r", "m"}, {"m"}}, []string{"m"}},
		{"shared alternative beats two firsts", scopes.Need{{"a", "x"}, {"b", "x"}}, []string{"x"}},
		{"ties go to earlier alternatives", scopes.Need{{"a", "x"}, {"x", "b"}, {"a", "b"}}, []string{"a", "x"}},
		{"independent pairs", scopes.Need{{"a1", "a2"}, {"b1", "b2"}, {"c1", "c2"}}, []string{"a1", "b1", "c1"}},
		// Greedy picks x (in three clauses) and then needs two more; the
		// optimum is {a, b}.
		{"greedy is not enough", scopes.Need{{"x", "a"}, {"x", "b"}, {"x", "a"}, {"a", "c"}, {"b", "d"}}, []string{"a", "b"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := scopes.Minimal(c.need)
			if !slices.Equal(got, c.want) {
				t.Errorf("Minimal(%v) = %v, want %v", c.need, got, c.want)
			}
			if !c.need.SatisfiedBy(got) {
				t.Errorf("%v does not satisfy %v", got, c.need)
			}
		})
	}
	// The whole table: every requirement at once is satisfied, and no
	// scope of the answer can be dropped.
	var all scopes.Need
	var names []string
	for _, r := range slices.Concat(scopes.Endpoints(), scopes.EventSubTypes()) {
		all = append(all, r.Need...)
		names = append(names, r.Key)
	}
	got, err := scopes.For(names...)
	if err != nil {
		t.Fatal(err)
	}
	if !all.SatisfiedBy(got) {
		t.Fatalf("For(everything) = %v does not satisfy the table", got)
	}
	for i := range got {
		if all.SatisfiedBy(slices.Delete(slices.Clone(got), i, i+1)) {
			t.Errorf("For(everything) keeps %s, which nothing needs", got[i])
		}
	}
}

func TestStrings(t *testing.T) {
	if s := (scopes.App | scopes.User).String(); s != "app or user" {
		t.Errorf("Kind.String = %q", s)
	}
	if s := (scopes.Need{{"a"}, {"b", "c"}}).String(); s != "a and (b or c)" {
		t.Errorf("Need.String = %q", s)
	}
	if s := (scopes.Need{}).String(); s != "no scope" {
		t.Errorf("empty Need.String = %q", s)
	}
	r := lookup(t, "GET /polls")
	if s := r.String(); s != "GET /polls: user token; channel:read:polls or channel:manage:polls from the broadcaster" {
		t.Errorf("Requirement.String = %q", s)
	}
}
