package scopes

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Kind is a set of token kinds.
type Kind uint8

// The token kinds an endpoint may accept.
const (
	// App is an app access token (client credentials).
	App Kind = 1 << iota
	// User is a user access token.
	User
	// ExtensionJWT is a JWT signed by an extension backend (role
	// "external"), sent as a Bearer token.
	ExtensionJWT
	// NoToken: the endpoint needs neither Client-Id nor Authorization.
	NoToken
)

// Has reports whether k includes every kind of o.
func (k Kind) Has(o Kind) bool { return k&o == o && o != 0 }

// String names the kinds, such as "app or user".
func (k Kind) String() string {
	var parts []string
	for _, x := range []struct {
		k    Kind
		name string
	}{{App, "app"}, {User, "user"}, {ExtensionJWT, "extension JWT"}, {NoToken, "no token"}} {
		if k&x.k != 0 {
			parts = append(parts, x.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " or ")
}

// Role says whose grant a requirement's scopes must be in, relative to the
// channel the request is about.
type Role uint8

// The roles.
const (
	// NoRole: no user grant is involved (an endpoint that takes any app
	// or user token and needs no scope).
	NoRole Role = iota
	// TheUser: the grant of the user the token (or the request) acts for,
	// whatever the channel — the chat sender, the user whose follows or
	// block list are read.
	TheUser
	// Broadcaster: the broadcaster's own grant; the token's user must be
	// the broadcaster named in the request.
	Broadcaster
	// Moderator: the grant of the broadcaster or of one of the
	// broadcaster's moderators (the request's moderator_id).
	Moderator
	// Editor: the grant of the broadcaster or of one of the broadcaster's
	// editors (the request's editor_id).
	Editor
)

// String describes the role, such as "the broadcaster or a moderator".
func (r Role) String() string {
	switch r {
	case TheUser:
		return "the user"
	case Broadcaster:
		return "the broadcaster"
	case Moderator:
		return "the broadcaster or a moderator"
	case Editor:
		return "the broadcaster or an editor"
	}
	return "anyone"
}

// AnyOf is satisfied by any one of its scopes.
type AnyOf []string

// Need is a scope condition in conjunctive normal form: every clause must be
// satisfied. A Need with no clause is always satisfied; empty clauses are
// ignored.
type Need []AnyOf

// All returns the Need of every one of scopes.
func All(scopes ...string) Need {
	n := make(Need, 0, len(scopes))
	for _, s := range scopes {
		n = append(n, AnyOf{s})
	}
	return n
}

// SatisfiedBy reports whether have satisfies every clause of n.
func (n Need) SatisfiedBy(have []string) bool { return len(n.Unsatisfied(have)) == 0 }

// Unsatisfied returns the clauses of n that no scope of have satisfies.
func (n Need) Unsatisfied(have []string) Need {
	var out Need
	for _, c := range n {
		if len(c) > 0 && !slices.ContainsFunc(c, func(s string) bool { return slices.Contains(have, s) }) {
			out = append(out, c)
		}
	}
	return out
}

// Scopes returns every scope n mentions, in order, without duplicates.
func (n Need) Scopes() []string {
	var out []string
	for _, c := range n {
		for _, s := range c {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// String writes n as "a and (b or c)"; "no scope" when n is empty.
func (n Need) String() string {
	if len(n) == 0 {
		return "no scope"
	}
	parts := make([]string, len(n))
	for i, c := range n {
		s := strings.Join(c, " or ")
		if len(c) > 1 && len(n) > 1 {
			s = "(" + s + ")"
		}
		parts[i] = s
	}
	return strings.Join(parts, " and ")
}

// Grant is a condition on one user's grant to the application, beyond the
// token's own: with an app token, Twitch checks what the users involved
// authorized the application (client ID) to do.
type Grant struct {
	// Of is whose grant it is.
	Of Role
	// Need is what the grant must include.
	Need Need
	// UnlessModerator: not needed when the user the request acts for (the
	// chat sender) is a moderator of the channel.
	UnlessModerator bool
}

// String describes g, such as "channel:bot from the broadcaster (unless the
// sender is a moderator)".
func (g Grant) String() string {
	s := g.Need.String() + " from " + g.Of.String()
	if g.UnlessModerator {
		s += " (unless the user is a moderator of the channel)"
	}
	return s
}

// Requirement is what one Helix endpoint or EventSub subscription type
// requires of its token.
type Requirement struct {
	// Key is the written name: "POST /chat/messages" for an endpoint,
	// "channel.chat.message v1" for an EventSub subscription type.
	Key string
	// Name is the reference's title, such as "Send Chat Message".
	Name string
	// Method and Path identify an endpoint (Path relative to the Helix
	// base, such as "/chat/messages"); empty for EventSub types.
	Method, Path string
	// Type and Version identify an EventSub subscription type; empty for
	// endpoints.
	Type, Version string
	// Doc is the address of the reference section.
	Doc string

	// Tokens are the kinds of token accepted. For an EventSub type: App
	// for webhooks and conduits, User for WebSockets.
	Tokens Kind
	// Role is whose grant Need must be in: the user token's own, or, with
	// an app token (EventSub webhooks), the grant that user gave the
	// application.
	Role Role
	// Need are the scopes required.
	Need Need
	// AppGrants are further grants required when an app token is used.
	AppGrants []Grant
	// Optional scopes add data to the answer without being required
	// (user:read:email for Get Users).
	Optional []string
	// Partial: Twitch answers a token lacking Need with less data rather
	// than refusing it (Get Channel Followers gives only the total), so
	// the need is not enforced before the call.
	Partial bool
	// Note is a correction made by hand to what the reference's prose
	// says, with its source; empty when the entry is generated as is.
	Note string
}

// IsEventSub reports whether r is an EventSub subscription type.
func (r Requirement) IsEventSub() bool { return r.Type != "" }

// Missing returns the smallest set of scopes to add to have so that a user
// token satisfies r.Need (nil if it does).
func (r Requirement) Missing(have []string) []string {
	return Minimal(r.Need.Unsatisfied(have))
}

// String describes r on one line.
func (r Requirement) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s token", r.Key, r.Tokens)
	if len(r.Need) > 0 {
		fmt.Fprintf(&b, "; %s from %s", r.Need, r.Role)
	}
	for _, g := range r.AppGrants {
		fmt.Fprintf(&b, "; with an app token also %s", g)
	}
	return b.String()
}

// Scope is one scope Twitch lists on its scopes page.
type Scope struct {
	// Name is the scope, such as "channel:read:polls".
	Name string
	// Description is the scopes page's description.
	Description string
	// Section is the page's table that lists it: "api" (Twitch API and
	// EventSub), "irc" (IRC chat) or "pubsub".
	Section string
}

// Provenance says which copy of Twitch's documentation the table was
// generated from.
type Provenance struct {
	// Repository and Commit locate the copy (the pages' raw HTML).
	Repository, Commit string
	// CommitDate is the commit's date (YYYY-MM-DD).
	CommitDate string
	// ReferenceDate, EventSubDate and ScopesDate are the pages' own
	// modification dates (YYYY-MM-DD).
	ReferenceDate, EventSubDate, ScopesDate string
	// ReferenceEndpoints and EventSubTypes count the endpoints and
	// subscription types (with versions) the pages document; the table
	// covers all of them.
	ReferenceEndpoints, EventSubTypes int
}

// Source returns the provenance of the table.
func Source() Provenance { return source }

// ErrUnknown: no requirement is known for that endpoint or subscription
// type. Twitch may have added it after the table was generated.
var ErrUnknown = errors.New("scopes: unknown endpoint or EventSub subscription type")

type endpointKey struct{ method, path string }

type index struct {
	byKey   map[endpointKey]int // endpoints by method and path
	esByKey map[string]int      // EventSub types by Key
	latest  map[string]int      // EventSub types by type: the highest numbered version
	known   map[string]bool
}

var idx = sync.OnceValue(func() *index {
	ix := &index{byKey: map[endpointKey]int{}, esByKey: map[string]int{}, latest: map[string]int{}, known: map[string]bool{}}
	for i, r := range endpoints {
		ix.byKey[endpointKey{r.Method, r.Path}] = i
	}
	for i, r := range eventsubTypes {
		ix.esByKey[r.Key] = i
		if j, ok := ix.latest[r.Type]; !ok || versionLess(eventsubTypes[j].Version, r.Version) {
			ix.latest[r.Type] = i
		}
	}
	for _, s := range catalogue {
		ix.known[s.Name] = true
	}
	return ix
})

// versionLess orders EventSub versions: numbers numerically, any number
// above "beta".
func versionLess(a, b string) bool {
	na, ea := atoi(a)
	nb, eb := atoi(b)
	switch {
	case ea && eb:
		return false
	case ea:
		return true
	case eb:
		return false
	}
	return na < nb
}

func atoi(s string) (n int, bad bool) {
	if s == "" {
		return 0, true
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, true
		}
		n = n*10 + int(c-'0')
	}
	return n, false
}

// Endpoint returns the requirement of a Helix endpoint. path is relative to
// the Helix base ("/chat/messages"); a "/helix" prefix, a trailing slash and
// a query are ignored, and the method is case-insensitive. It does not
// allocate for a path in that form.
func Endpoint(method, path string) (Requirement, bool) {
	i, ok := idx().byKey[endpointKey{strings.ToUpper(method), normPath(path)}]
	if !ok {
		return Requirement{}, false
	}
	return endpoints[i], true
}

func normPath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if rest, ok := strings.CutPrefix(p, "/helix"); ok && (rest == "" || rest[0] == '/') {
		p = rest
	}
	p = strings.TrimRight(p, "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

// EventSub returns the requirement of an EventSub subscription type;
// version "" means its highest numbered version.
func EventSub(typ, version string) (Requirement, bool) {
	ix := idx()
	var i int
	var ok bool
	if version == "" {
		i, ok = ix.latest[typ]
	} else {
		i, ok = ix.esByKey[eventsubKey(typ, strings.TrimPrefix(strings.ToLower(version), "v"))]
	}
	if !ok {
		return Requirement{}, false
	}
	return eventsubTypes[i], true
}

func eventsubKey(typ, version string) string {
	if _, bad := atoi(version); bad {
		return typ + " " + version
	}
	return typ + " v" + version
}

// Lookup returns the requirement written as name: "METHOD /path" (the path
// may be a full Helix URL), or an EventSub type with an optional version
// ("channel.chat.message", "channel.moderate v2", "channel.moderate 2").
// An unknown name gives an error matching ErrUnknown that suggests close
// names.
func Lookup(name string) (Requirement, error) {
	f := strings.Fields(name)
	switch {
	case len(f) == 2 && isMethod(f[0]):
		p := f[1]
		if u, err := url.Parse(p); err == nil && u.Host != "" {
			p = u.Path
		}
		if r, ok := Endpoint(f[0], p); ok {
			return r, nil
		}
	case len(f) == 1 && isMethod(f[0]):
		return Requirement{}, fmt.Errorf("%w: %q: give the method and the path, such as \"GET /polls\"", ErrUnknown, name)
	case len(f) == 1 || len(f) == 2:
		v := ""
		if len(f) == 2 {
			v = f[1]
		}
		if r, ok := EventSub(f[0], v); ok {
			return r, nil
		}
	}
	if len(f) == 0 {
		return Requirement{}, fmt.Errorf("%w: empty name: give \"METHOD /path\" or an EventSub type", ErrUnknown)
	}
	msg := fmt.Sprintf("%q", name)
	if s := suggest(f); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, ", ") + "?"
	}
	return Requirement{}, fmt.Errorf("%w: %s", ErrUnknown, msg)
}

func isMethod(s string) bool {
	switch strings.ToUpper(s) {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
		return true
	}
	return false
}

// suggest returns up to three keys sharing the name's path or type.
func suggest(f []string) []string {
	want := f[len(f)-1]
	if len(f) == 2 && isMethod(f[0]) {
		want = normPath(want)
	}
	var out []string
	add := func(k string) {
		if len(out) < 3 && !slices.Contains(out, k) {
			out = append(out, fmt.Sprintf("%q", k))
		}
	}
	for _, r := range endpoints {
		if r.Path == want {
			add(r.Key)
		}
	}
	if len(out) == 0 {
		for _, r := range eventsubTypes {
			if r.Type == f[0] || strings.HasPrefix(r.Type, f[0]) {
				add(r.Key)
			}
		}
	}
	if len(out) == 0 && len(want) > 1 {
		for _, r := range endpoints {
			if strings.HasPrefix(r.Path, want) || strings.HasPrefix(want, r.Path+"/") {
				add(r.Key)
			}
		}
	}
	return out
}

// Endpoints returns every endpoint's requirement, in the reference's order.
func Endpoints() []Requirement { return slices.Clone(endpoints) }

// EventSubTypes returns every EventSub subscription type's requirement
// (each version), in the reference's order.
func EventSubTypes() []Requirement { return slices.Clone(eventsubTypes) }

// Catalogue returns every scope the scopes page lists, in its order.
func Catalogue() []Scope { return slices.Clone(catalogue) }

// Known reports whether the scopes page lists scope.
func Known(scope string) bool { return idx().known[scope] }

// For returns the smallest set of scopes (sorted) that one user token needs
// to call every one of the named endpoints or subscribe to every named
// EventSub type (see Lookup for the names). Where several sets are as
// small, the one using the alternatives the reference lists first (the
// read scope before the manage scope) is chosen. Scopes needed only with an
// app token (AppGrants) and optional ones are not included. An unknown name
// gives an error matching ErrUnknown.
func For(names ...string) ([]string, error) {
	var need Need
	for _, n := range names {
		r, err := Lookup(n)
		if err != nil {
			return nil, err
		}
		need = append(need, r.Need...)
	}
	return Minimal(need), nil
}
