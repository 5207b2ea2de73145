package scopes_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/scopes"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// The sandbox keeps its own requirement for every endpoint it serves (the
// sandbox never imports the client) and publishes it at GET
// /_sandbox/requirements; these tests read it over HTTP, in their own
// structs written from the documented shape (twitchtest's package doc), and
// compare it with this table.

// sandboxEndpoint is one Helix endpoint as GET /_sandbox/requirements
// publishes it.
type sandboxEndpoint struct {
	Method          string     `json:"method"`
	Path            string     `json:"path"`
	Tokens          []string   `json:"tokens"`
	ExtensionScheme bool       `json:"extension_scheme"`
	Scopes          [][]string `json:"scopes"`
	OptionalScopes  []string   `json:"optional_scopes"`
}

// sandboxRequirements is the body of GET /_sandbox/requirements.
type sandboxRequirements struct {
	Helix    []sandboxEndpoint `json:"helix"`
	EventSub []struct {
		Type         string     `json:"type"`
		Version      string     `json:"version"`
		AuthorizedBy string     `json:"authorized_by"`
		Scopes       [][]string `json:"scopes"`
	} `json:"eventsub"`
	Scopes []struct {
		Name string `json:"name"`
	} `json:"scopes"`
}

// oidcScope is the one scope the sandbox accepts that Twitch's scopes page
// does not list: OpenID Connect's (docs/protocol.md#oidc).
const oidcScope = "openid"

func fetchSandbox(t *testing.T) sandboxRequirements {
	t.Helper()
	s := twitchtest.NewServer(t)
	resp, err := http.Get(s.URL() + "/_sandbox/requirements")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_sandbox/requirements: %d %s", resp.StatusCode, body)
	}
	var out sandboxRequirements
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET /_sandbox/requirements: %v", err)
	}
	if len(out.Helix) == 0 || len(out.Scopes) == 0 {
		t.Fatalf("GET /_sandbox/requirements publishes nothing: %s", body)
	}
	return out
}

// kindOf reads the sandbox's token kind names.
func kindOf(names []string) (scopes.Kind, error) {
	var k scopes.Kind
	for _, n := range names {
		switch n {
		case "app":
			k |= scopes.App
		case "user":
			k |= scopes.User
		case "extension_jwt":
			k |= scopes.ExtensionJWT
		default:
			return 0, fmt.Errorf("unknown token kind %q", n)
		}
	}
	return k, nil
}

// canonical reduces a scope condition in conjunctive normal form to its
// unique minimal form (each clause's scopes sorted and deduplicated, clauses
// implied by a smaller one dropped, clauses sorted), so that two conditions
// are equivalent exactly when their canonical forms are equal.
func canonical(need [][]string) []string {
	var cs [][]string
	for _, c := range need {
		c = slices.Clone(c)
		slices.Sort(c)
		cs = append(cs, slices.Compact(c))
	}
	subset := func(a, b []string) bool { // a ⊆ b
		for _, s := range a {
			if !slices.Contains(b, s) {
				return false
			}
		}
		return true
	}
	var out []string
	for i, c := range cs {
		implied := false
		for j, d := range cs {
			if i != j && subset(d, c) && (len(d) < len(c) || j < i) {
				implied = true // d is stricter (or an earlier duplicate)
				break
			}
		}
		if !implied {
			out = append(out, strings.Join(c, " or "))
		}
	}
	slices.Sort(out)
	return out
}

func sortedSet(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// disagreements lists how the sandbox's published requirement for one
// endpoint differs from the table's.
func disagreements(e sandboxEndpoint, r scopes.Requirement) []string {
	var out []string
	k, err := kindOf(e.Tokens)
	if err != nil {
		out = append(out, err.Error())
	} else if k != r.Tokens {
		out = append(out, fmt.Sprintf("token kinds: the sandbox takes %s, the table says %s", k, r.Tokens))
	}
	// A Partial need is not enforced by Twitch (it answers with less data):
	// the sandbox must publish those scopes as optional, not as required.
	need, optional := r.Need, r.Optional
	if r.Partial {
		need, optional = nil, slices.Concat(r.Optional, r.Need.Scopes())
	}
	var tableNeed [][]string
	for _, c := range need {
		tableNeed = append(tableNeed, []string(c))
	}
	if got, want := canonical(e.Scopes), canonical(tableNeed); !slices.Equal(got, want) {
		out = append(out, fmt.Sprintf("scopes: the sandbox requires %s, the table %s", describe(got), describe(want)))
	}
	if got, want := sortedSet(e.OptionalScopes), sortedSet(optional); !slices.Equal(got, want) {
		out = append(out, fmt.Sprintf("optional scopes: the sandbox has %q, the table %q", got, want))
	}
	if len(r.AppGrants) > 0 && k&scopes.App != 0 {
		// The sandbox has no way to publish these rules yet: an endpoint
		// taking app tokens with such a rule must not be served without it.
		for _, g := range r.AppGrants {
			out = append(out, "with an app token the table also needs "+g.String()+"; the sandbox publishes no such rule")
		}
	}
	return out
}

func describe(clauses []string) string {
	if len(clauses) == 0 {
		return "no scope"
	}
	return "(" + strings.Join(clauses, ") and (") + ")"
}

// TestSandboxAgrees: for every Helix endpoint the sandbox serves, the
// sandbox's requirement — token kinds, scopes with their all-of/any-of
// logic, optional scopes, app-token rules — is the table's; and every
// endpoint it serves is one the table knows.
func TestSandboxAgrees(t *testing.T) {
	sb := fetchSandbox(t)
	var unknown []string
	for _, e := range sb.Helix {
		key := e.Method + " " + e.Path
		r, ok := scopes.Endpoint(e.Method, e.Path)
		if !ok {
			unknown = append(unknown, key)
			continue
		}
		for _, d := range disagreements(e, r) {
			t.Errorf("%s (%s): %s", key, r.Doc, d)
		}
	}
	if len(unknown) > 0 {
		t.Errorf("the sandbox serves %d endpoints the table does not know (not in Twitch's reference at %s): %s",
			len(unknown), scopes.Source().ReferenceDate, strings.Join(unknown, ", "))
	}
	t.Logf("compared %d sandbox endpoints with the table", len(sb.Helix)-len(unknown))
}

// TestSandboxScopeCatalogue: the sandbox accepts exactly the scopes Twitch's
// scopes page lists, plus openid.
func TestSandboxScopeCatalogue(t *testing.T) {
	sb := fetchSandbox(t)
	var got, want []string
	for _, s := range sb.Scopes {
		if s.Name != oidcScope {
			got = append(got, s.Name)
		}
	}
	for _, s := range scopes.Catalogue() {
		want = append(want, s.Name)
	}
	for _, s := range sortedSet(got) {
		if !scopes.Known(s) {
			t.Errorf("the sandbox accepts %q, which Twitch's scopes page (%s) does not list", s, scopes.Source().ScopesDate)
		}
	}
	for _, s := range sortedSet(want) {
		if !slices.Contains(got, s) {
			t.Errorf("the sandbox refuses %q, which Twitch's scopes page (%s) lists", s, scopes.Source().ScopesDate)
		}
	}
	if !slices.ContainsFunc(sb.Scopes, func(s struct {
		Name string `json:"name"`
	}) bool {
		return s.Name == oidcScope
	}) {
		t.Errorf("the sandbox does not accept %q", oidcScope)
	}
}

// TestDisagreements checks the comparison itself: each kind of difference
// is reported, equivalent conditions are not.
func TestDisagreements(t *testing.T) {
	moderators, _ := scopes.Endpoint("GET", "/moderation/moderators") // moderation:read or channel:manage:moderators
	chat, _ := scopes.Endpoint("POST", "/chat/messages")              // app-token grants
	followers, _ := scopes.Endpoint("GET", "/channels/followers")     // Partial
	users, _ := scopes.Endpoint("GET", "/users")                      // optional user:read:email
	if !followers.Partial || len(chat.AppGrants) == 0 || len(users.Optional) == 0 {
		t.Fatalf("the table changed under this test: %v / %v / %v", followers, chat, users)
	}
	user := []string{"user"}
	cases := []struct {
		name string
		e    sandboxEndpoint
		r    scopes.Requirement
		want string // "" = agreement
	}{
		{"same", sandboxEndpoint{Tokens: user, Scopes: [][]string{{"channel:manage:moderators", "moderation:read"}}}, moderators, ""},
		{"same, redundant clause", sandboxEndpoint{Tokens: user, Scopes: [][]string{{"moderation:read", "channel:manage:moderators", "moderation:read"}, {"moderation:read", "channel:manage:moderators", "bits:read"}}}, moderators, ""},
		{"all of instead of any of", sandboxEndpoint{Tokens: user, Scopes: [][]string{{"moderation:read"}, {"channel:manage:moderators"}}}, moderators, "scopes:"},
		{"one alternative dropped", sandboxEndpoint{Tokens: user, Scopes: [][]string{{"moderation:read"}}}, moderators, "scopes:"},
		{"no scope", sandboxEndpoint{Tokens: user}, moderators, "scopes:"},
		{"app token too", sandboxEndpoint{Tokens: []string{"app", "user"}, Scopes: [][]string{{"moderation:read", "channel:manage:moderators"}}}, moderators, "token kinds:"},
		{"unknown kind", sandboxEndpoint{Tokens: []string{"user", "robot"}, Scopes: [][]string{{"moderation:read", "channel:manage:moderators"}}}, moderators, "unknown token kind"},
		{"app-token grant rule missing", sandboxEndpoint{Tokens: []string{"app", "user"}, Scopes: [][]string{{"user:write:chat"}}}, chat, "with an app token"},
		{"partial enforced", sandboxEndpoint{Tokens: []string{"user"}, Scopes: [][]string{{"moderator:read:followers"}}}, followers, "scopes:"},
		{"partial as optional", sandboxEndpoint{Tokens: []string{"user"}, OptionalScopes: []string{"moderator:read:followers"}}, followers, ""},
		{"optional missing", sandboxEndpoint{Tokens: []string{"app", "user"}}, users, "optional scopes:"},
		{"optional", sandboxEndpoint{Tokens: []string{"user", "app"}, OptionalScopes: []string{"user:read:email"}}, users, ""},
	}
	for _, c := range cases {
		d := disagreements(c.e, c.r)
		switch {
		case c.want == "" && len(d) > 0:
			t.Errorf("%s: reported %q", c.name, d)
		case c.want != "" && !slices.ContainsFunc(d, func(s string) bool { return strings.Contains(s, c.want) }):
			t.Errorf("%s: reported %q, want a %q difference", c.name, d, c.want)
		}
	}
}

// TestSandboxEventSubMatchesTable: each subscription type the sandbox serves
// needs, over a webhook, the grant of the same user with the same scopes as
// the table says (the sandbox's authorized_by names the condition field of
// that user; the table names the role).
func TestSandboxEventSubMatchesTable(t *testing.T) {
	sb := fetchSandbox(t)
	if len(sb.EventSub) == 0 {
		t.Fatal("the sandbox publishes no EventSub type")
	}
	roles := map[string]scopes.Role{"": scopes.NoRole, "broadcaster_user_id": scopes.Broadcaster, "moderator_user_id": scopes.Moderator}
	for _, e := range sb.EventSub {
		r, ok := scopes.EventSub(e.Type, e.Version)
		if !ok {
			t.Errorf("%s v%s: the sandbox serves a type the table does not know", e.Type, e.Version)
			continue
		}
		if r.Tokens&scopes.App == 0 {
			t.Errorf("%s v%s: the table says webhooks (app tokens) cannot subscribe", e.Type, e.Version)
		}
		role, known := roles[e.AuthorizedBy]
		if !known {
			t.Errorf("%s v%s: authorized_by %q is not a role this test knows", e.Type, e.Version, e.AuthorizedBy)
		}
		var tableNeed [][]string
		for _, c := range r.Need {
			tableNeed = append(tableNeed, []string(c))
		}
		if len(tableNeed) > 0 && role != r.Role {
			t.Errorf("%s v%s: the sandbox asks the grant of %q, the table of role %v", e.Type, e.Version, e.AuthorizedBy, r.Role)
		}
		if got, want := canonical(e.Scopes), canonical(tableNeed); !slices.Equal(got, want) {
			t.Errorf("%s v%s: the sandbox needs %v, the table %v", e.Type, e.Version, got, want)
		}
	}
}
