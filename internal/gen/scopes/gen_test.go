package main

import (
	"bytes"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/scopes"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildFixture runs build on the synthetic pages of testdata, with the
// reference's page changed by edit.
func buildFixture(t *testing.T, ovs []override, edit func(ref string) string) (*table, error) {
	t.Helper()
	ref := string(readFixture(t, "reference.html"))
	if edit != nil {
		ref = edit(ref)
	}
	return build(bytes.NewReader(readFixture(t, "scopes.html")), strings.NewReader(ref),
		bytes.NewReader(readFixture(t, "eventsub-subscription-types.html")), ovs)
}

var fixtureOverrides = []override{{
	key: "POST /chat/messages", source: "test: the app-token rule",
	apply: func(r *scopes.Requirement) {
		r.AppGrants = []scopes.Grant{{Of: scopes.TheUser, Need: scopes.All("user:bot")}, {Of: scopes.Broadcaster, Need: scopes.All("channel:bot"), UnlessModerator: true}}
	},
}}

func find(t *testing.T, rs []scopes.Requirement, key string) scopes.Requirement {
	t.Helper()
	for _, r := range rs {
		if r.Key == key {
			return r
		}
	}
	t.Fatalf("no %s in %d requirements", key, len(rs))
	return scopes.Requirement{}
}

func needEqual(a, b scopes.Need) bool {
	return slices.EqualFunc(a, b, func(x, y scopes.AnyOf) bool { return slices.Equal(x, y) })
}

func TestBuildFixture(t *testing.T) {
	tb, err := buildFixture(t, fixtureOverrides, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tb.source.ReferenceDate != "2025-02-03" || tb.source.ScopesDate != "2025-01-02" || tb.source.EventSubDate != "2025-03-04" {
		t.Errorf("dates %+v", tb.source)
	}
	if tb.source.ReferenceEndpoints != 9 || len(tb.endpoints) != 9 || tb.source.EventSubTypes != 5 || len(tb.eventsub) != 5 {
		t.Errorf("counts %+v: %d endpoints, %d types", tb.source, len(tb.endpoints), len(tb.eventsub))
	}
	// The catalogue: every table, deprecated scopes left out, nav ignored.
	var names []string
	for _, s := range tb.catalogue {
		names = append(names, s.Name+"/"+s.Section)
	}
	if !slices.Contains(names, "chat:read/irc") || slices.Contains(names, "whispers:edit/api") || slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "nav:") }) {
		t.Errorf("catalogue %v", names)
	}
	if d := tb.catalogue[0].Description; d != "View a channel's polls." {
		t.Errorf("description %q", d)
	}

	for _, c := range []struct {
		key    string
		tokens scopes.Kind
		role   scopes.Role
		need   scopes.Need
	}{
		{"GET /polls", scopes.User, scopes.Broadcaster, scopes.Need{{"channel:read:polls", "channel:manage:polls"}}},
		{"POST /polls", scopes.User, scopes.Broadcaster, scopes.All("channel:manage:polls")},
		{"GET /moderation/moderators", scopes.User, scopes.Broadcaster, scopes.Need{{"moderation:read", "channel:manage:moderators"}}},
		{"POST /chat/messages", scopes.App | scopes.User, scopes.TheUser, scopes.All("user:write:chat")},
		{"GET /guest_star/session", scopes.User, scopes.Moderator, scopes.Need{{"channel:read:guest_star", "moderator:read:guest_star", "moderator:read:vips"}}},
		{"GET /users", scopes.App | scopes.User, scopes.NoRole, nil},
		{"GET /streams/key", scopes.App, scopes.NoRole, nil},
		{"GET /extensions/jwt/secrets", scopes.ExtensionJWT, scopes.NoRole, nil},
		{"GET /schedule/icalendar", scopes.NoToken, scopes.NoRole, nil},
	} {
		r := find(t, tb.endpoints, c.key)
		if r.Tokens != c.tokens || r.Role != c.role || !needEqual(r.Need, c.need) {
			t.Errorf("%s: tokens %v role %v need %v; want %v %v %v", c.key, r.Tokens, r.Role, r.Need, c.tokens, c.role, c.need)
		}
	}
	if r := find(t, tb.endpoints, "GET /streams/key"); !strings.Contains(r.Note, "no method") {
		t.Errorf("the inferred method is not noted: %q", r.Note)
	}
	chat := find(t, tb.endpoints, "POST /chat/messages")
	if len(chat.AppGrants) != 2 || chat.Note != "test: the app-token rule" {
		t.Errorf("override not applied: %+v", chat)
	}
	if r := find(t, tb.endpoints, "GET /users"); !slices.Equal(r.Optional, []string{"user:read:email"}) {
		t.Errorf("Get Users optional %v (the scopes page marks user:read:email optional)", r.Optional)
	}
	if r := find(t, tb.endpoints, "GET /polls"); r.Doc != "https://dev.twitch.tv/docs/api/reference/#get-polls" {
		t.Errorf("doc %q", r.Doc)
	}

	for _, c := range []struct {
		key    string
		tokens scopes.Kind
		role   scopes.Role
		need   scopes.Need
	}{
		{"channel.poll.begin v1", scopes.App | scopes.User, scopes.Broadcaster, scopes.Need{{"channel:read:polls", "channel:manage:polls"}}},
		{"channel.moderate v2", scopes.App | scopes.User, scopes.Moderator, scopes.Need{{"moderator:read:blocked_terms", "moderator:manage:blocked_terms"}, {"moderator:read:vips"}}},
		{"stream.online v1", scopes.App | scopes.User, scopes.NoRole, nil},
		{"user.authorization.grant v1", scopes.App, scopes.NoRole, nil},
	} {
		r := find(t, tb.eventsub, c.key)
		if r.Tokens != c.tokens || r.Role != c.role || !needEqual(r.Need, c.need) {
			t.Errorf("%s: tokens %v role %v need %v; want %v %v %v", c.key, r.Tokens, r.Role, r.Need, c.tokens, c.role, c.need)
		}
	}
	if r := find(t, tb.eventsub, "user.update v1"); len(r.Need) != 0 || !slices.Equal(r.Optional, []string{"user:read:email"}) {
		t.Errorf("user.update: need %v optional %v", r.Need, r.Optional)
	}
	if r := find(t, tb.eventsub, "channel.moderate v2"); r.Name != "Channel Moderate V2" {
		t.Errorf("name %q", r.Name)
	}
	// The scopes page lists Get Polls under both scopes, and nothing else
	// disagrees except what the fixture leaves out on purpose.
	for _, w := range tb.warnings {
		if strings.Contains(w, "GET /polls") {
			t.Errorf("unexpected warning %s", w)
		}
	}
	if !slices.ContainsFunc(tb.warnings, func(w string) bool {
		return strings.Contains(w, "GET /guest_star/session requires channel:read:guest_star, but the scopes page does not list it")
	}) {
		t.Errorf("the cross-check missed the guest star endpoint: %q", tb.warnings)
	}
}

// The generator refuses what it cannot vouch for.
func TestBuildRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		ovs  []override
		edit func(string) string
		want string
	}{
		{"prose it cannot read", nil, nil, `POST /chat/messages (#send-chat-message): cannot read ["If app access token used`},
		{"an unlisted scope", fixtureOverrides, func(s string) string {
			return strings.Replace(s, "<strong>channel:manage:polls</strong> scope.</p>\n<h3>URL</h3>\n<p><code>POST", "<strong>channel:manage:pools</strong> scope.</p>\n<h3>URL</h3>\n<p><code>POST", 1)
		}, `POST /polls (#create-poll) names "channel:manage:pools", which the scopes page does not list`},
		{"an override for nothing", append(slices.Clone(fixtureOverrides), override{key: "GET /gone", source: "x", apply: func(*scopes.Requirement) {}}), nil,
			`override "GET /gone" matches no endpoint`},
		{"an override that changes nothing", append(slices.Clone(fixtureOverrides), override{key: "GET /users", source: "x", apply: func(*scopes.Requirement) {}}), nil,
			`override "GET /users" changes nothing`},
		{"an override adding an unlisted scope", []override{{key: "POST /chat/messages", source: "x", apply: func(r *scopes.Requirement) {
			r.AppGrants = []scopes.Grant{{Of: scopes.TheUser, Need: scopes.All("user:robot")}}
		}}}, nil, `POST /chat/messages requires "user:robot", which the scopes page does not list`},
		{"a section without token kinds", fixtureOverrides, func(s string) string {
			return strings.Replace(s, "<p>Requires an app access token or user access token.</p>", "<p>Ask your administrator.</p>", 1)
		}, "GET /users (#get-users): no token kind found"},
		{"an endpoint twice", fixtureOverrides, func(s string) string {
			return strings.Replace(s, "POST https://api.twitch.tv/helix/polls/", "GET https://api.twitch.tv/helix/polls", 1)
		}, "GET /polls documented twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := buildFixture(t, c.ovs, c.edit)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant one containing %s", err, c.want)
			}
		})
	}
	// Pages that are not Twitch's.
	empty := strings.NewReader("<html><body><p>hello</p></body></html>")
	if _, err := build(empty, strings.NewReader(""), strings.NewReader(""), nil); err == nil || !strings.Contains(err.Error(), "scopes page lists no scope") {
		t.Errorf("empty scopes page: %v", err)
	}
}

func TestParseAuth(t *testing.T) {
	known := func(s string) bool { return s != "nope:nope" }
	for _, c := range []struct {
		name     string
		prose    authProse
		need     scopes.Need
		unparsed int
		unknown  []string
	}{
		{"one", authProse{paras: []string{"Requires a user access token that includes the a:b scope."}}, scopes.All("a:b"), 0, nil},
		{"or", authProse{paras: []string{"Requires a user access token that includes the a:b or c:d scope."}}, scopes.Need{{"a:b", "c:d"}}, 0, nil},
		{"comma list", authProse{paras: []string{"Requires OAuth Scope: a:b, c:d, e:f or g:h"}}, scopes.Need{{"a:b", "c:d", "e:f", "g:h"}}, 0, nil},
		{"and", authProse{paras: []string{"Requires the a:b and c:d scopes."}}, scopes.All("a:b", "c:d"), 0, nil},
		{"instead", authProse{paras: []string{"Requires a:b. You can use the c:d scope instead."}}, scopes.Need{{"a:b", "c:d"}}, 0, nil},
		{"restated", authProse{paras: []string{"Requires a:b or c:d. To include inactive ones, you must include the c:d scope."}}, scopes.Need{{"a:b", "c:d"}}, 0, nil},
		{"for example", authProse{paras: []string{"No scope. For example, to subscribe you need the a:b scope."}}, nil, 1, nil},
		{"if app token", authProse{paras: []string{"Requires a:b. If app access token used, then additionally requires c:d scope from chatting user."}}, scopes.All("a:b"), 1, nil},
		{"unknown", authProse{paras: []string{"Requires the nope:nope scope."}}, nil, 0, []string{"nope:nope"}},
		{"all of list", authProse{paras: []string{"Must have all of the following scopes:"}, lists: [][]string{{"a:b OR c:d", "e:f"}}}, scopes.Need{{"a:b", "c:d"}, {"e:f"}}, 0, nil},
		{"list as prose", authProse{lists: [][]string{{"Query parameter moderator_id must match the user_id", "Requires OAuth Scope: a:b or c:d"}}}, scopes.Need{{"a:b", "c:d"}}, 0, nil},
		{"no scope", authProse{paras: []string{"Requires an app access token. The client ID in the app access token must match."}}, nil, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			pa := parseAuth(c.prose, known)
			if !needEqual(pa.need, c.need) || len(pa.unparsed) != c.unparsed || !slices.Equal(pa.unknown, c.unknown) {
				t.Errorf("need %v unparsed %q unknown %v; want %v, %d unparsed, %v", pa.need, pa.unparsed, pa.unknown, c.need, c.unparsed, c.unknown)
			}
		})
	}
}

func TestTokenKinds(t *testing.T) {
	for s, want := range map[string]scopes.Kind{
		"Requires an app access token or user access token.":                             scopes.App | scopes.User,
		"Requires an app access token.":                                                  scopes.App,
		"Requires a user access token that includes the a:b scope.":                      scopes.User,
		"Query parameter broadcaster_id must match the user_id in the User-Access token": scopes.User,
		"Requires a signed JSON Web Token (JWT) created by an EBS.":                      scopes.ExtensionJWT,
		"The Client-Id and Authorization headers are not required.":                      scopes.NoToken,
		"Whatever.": 0,
	} {
		if got := tokenKinds(s); got != want {
			t.Errorf("tokenKinds(%q) = %v, want %v", s, got, want)
		}
	}
}

// The emitted file is Go of package scopes with the provenance header.
func TestEmit(t *testing.T) {
	tb, err := buildFixture(t, fixtureOverrides, nil)
	if err != nil {
		t.Fatal(err)
	}
	tb.source.Repository, tb.source.Commit, tb.source.CommitDate = "example.com/r", "abc123", "2025-04-05"
	src, err := emit(tb)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "table_gen.go", src, parser.ParseComments)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if f.Name.Name != "scopes" {
		t.Errorf("package %s", f.Name.Name)
	}
	for _, want := range []string{
		"// Code generated by internal/gen/scopes; DO NOT EDIT.",
		"API reference (modified 2025-02-03)", "example.com/r at commit abc123 (2025-04-05)",
		"9 endpoints and 5 EventSub subscription types",
		`Need: Need{{"channel:read:polls", "channel:manage:polls"}}`,
		`AppGrants: []Grant{{Of: TheUser, Need: Need{{"user:bot"}}}, {Of: Broadcaster, Need: Need{{"channel:bot"}}, UnlessModerator: true}}`,
		"Tokens: App | User", "Tokens: ExtensionJWT", "Tokens: NoToken",
	} {
		// (gofmt aligns the fields: compare with single spaces.)
		if !strings.Contains(strings.Join(strings.Fields(string(src)), " "), want) {
			t.Errorf("the output lacks %s", want)
		}
	}
}

func TestRunUsage(t *testing.T) {
	var stderr bytes.Buffer
	for _, args := range [][]string{
		nil,
		{"-dir", "testdata", "-o", "x.go", "-commit", "abc"},
		{"-dir", "testdata", "-o", "x.go", "-commit", "abc", "-commit-date", "2025-01-01", "extra"},
		{"-bogus"},
	} {
		err := run(args, &stderr)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
	// A missing page is named.
	out := filepath.Join(t.TempDir(), "table_gen.go")
	err := run([]string{"-dir", t.TempDir(), "-o", out, "-commit", "abc", "-commit-date", "2025-01-01"}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "reading the scopes page") {
		t.Errorf("missing pages: %v", err)
	}
}
