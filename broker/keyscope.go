package broker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twitchauth/twitchauth/provider"
)

// A key's scope (docs/broker.md, "API keys"): the subjects it may use and,
// for the Helix proxy, the methods and paths it may call. An API key without
// subjects keeps the meaning keys had before scopes existed: every subject
// its permissions reach. The checks themselves are called from trust.go
// (subjectAllowed, helixAllowed), before the subject is looked up.

// Subject kinds, in the textual form of the library's subjects: "app",
// "user:<id>", "intent:<name>".
const (
	kindApp    = "app"
	kindUser   = "user"
	kindIntent = "intent"
)

// subjectPattern is one entry of APIKey.Subjects: app, user:<id>,
// intent:<name>, or the wildcards user:* and intent:*.
type subjectPattern struct {
	kind string // kindApp, kindUser or kindIntent
	name string // the user ID or intent name; "*" for any; "" for the app
}

func (p subjectPattern) String() string {
	if p.kind == kindApp {
		return kindApp
	}
	return p.kind + ":" + p.name
}

// errSubjectPattern explains the accepted forms of a subject pattern.
const errSubjectPattern = "a subject is app, user:<Twitch user ID>, intent:<name>, user:* or intent:*"

// parseSubjectPattern parses one subject pattern: the wildcards, or a
// subject in the library's textual form (provider.ParseSubject). It refuses logins: a key names users by
// their ID, which never changes, while a login can pass to another account.
func parseSubjectPattern(s string) (subjectPattern, error) {
	text := strings.TrimSpace(s)
	switch text {
	case kindUser + ":*":
		return subjectPattern{kind: kindUser, name: "*"}, nil
	case kindIntent + ":*":
		return subjectPattern{kind: kindIntent, name: "*"}, nil
	}
	if sub, err := provider.ParseSubject(text); err == nil {
		switch {
		case sub.IsApp():
			return subjectPattern{kind: kindApp}, nil
		case sub.UserID() != "":
			return subjectPattern{kind: kindUser, name: sub.UserID()}, nil
		default:
			return subjectPattern{kind: kindIntent, name: sub.IntentName()}, nil
		}
	}
	if strings.HasPrefix(text, kindUser+":login:") {
		return subjectPattern{}, fmt.Errorf("subject %q: name the user by its Twitch user ID (user:<digits>), not by login: a login can pass to another account", s)
	}
	return subjectPattern{}, fmt.Errorf("subject %q: %s", s, errSubjectPattern)
}

// subjectRef is the subject a request names: the app, a user (by ID or
// login) or an intent.
type subjectRef struct {
	kind   string
	user   userRef // kindUser
	intent string  // kindIntent
}

func appSubject() subjectRef               { return subjectRef{kind: kindApp} }
func userSubject(u userRef) subjectRef     { return subjectRef{kind: kindUser, user: u} }
func intentSubject(name string) subjectRef { return subjectRef{kind: kindIntent, intent: name} }
func userIDSubject(id string) subjectRef   { return userSubject(userRef{id: id}) }

// String names the subject as the caller named it: "app", "user:123",
// "user:login:name", "intent:chat". It never names what a login or an
// intent resolves to, so that a refusal reveals nothing the caller did not
// say.
func (s subjectRef) String() string {
	switch s.kind {
	case kindUser:
		return kindUser + ":" + s.user.String()
	case kindIntent:
		return kindIntent + ":" + s.intent
	}
	return kindApp
}

// keyScope is the compiled form of APIKey.Subjects.
type keyScope struct {
	unscoped   bool // no subject listed: every subject
	app        bool
	allUsers   bool
	allIntents bool
	users      map[string]bool // by user ID
	intents    map[string]bool
	patterns   []string // canonical, in the given order (for messages and listings)
}

// newKeyScope compiles subject patterns; none means unscoped.
func newKeyScope(subjects []string) (*keyScope, error) {
	sc := &keyScope{unscoped: len(subjects) == 0, users: map[string]bool{}, intents: map[string]bool{}}
	for _, s := range subjects {
		p, err := parseSubjectPattern(s)
		if err != nil {
			return nil, err
		}
		if slices.Contains(sc.patterns, p.String()) {
			continue
		}
		sc.patterns = append(sc.patterns, p.String())
		switch {
		case p.kind == kindApp:
			sc.app = true
		case p.kind == kindUser && p.name == "*":
			sc.allUsers = true
		case p.kind == kindUser:
			sc.users[p.name] = true
		case p.name == "*":
			sc.allIntents = true
		default:
			sc.intents[p.name] = true
		}
	}
	return sc, nil
}

// covers reports whether the scope covers s. Each kind is covered only by
// its own patterns: user:<id> does not cover an intent bound to that user
// (the operator may move the intent; a key for a user is not a key for a
// role), and intent:<name> does not cover the user it points at. A user
// named by login is covered by user:*, or by user:<id> when resolveLogin
// maps the login to that ID; a login that resolves to nothing is not
// covered, so that the answer is the same 403 whether or not it is held.
func (sc *keyScope) covers(s subjectRef, resolveLogin func(login string) (id string, ok bool)) bool {
	if sc.unscoped {
		return true
	}
	switch s.kind {
	case kindApp:
		return sc.app
	case kindIntent:
		return sc.allIntents || sc.intents[s.intent]
	case kindUser:
		if sc.allUsers {
			return true
		}
		if s.user.id != "" {
			return sc.users[s.user.id]
		}
		if len(sc.users) == 0 || resolveLogin == nil {
			return false
		}
		id, ok := resolveLogin(s.user.login)
		return ok && sc.users[id]
	}
	return false
}

// coversUser reports whether the scope covers the user with this ID by its
// own patterns (user:* or user:<id>), for listings.
func (sc *keyScope) coversUser(id string) bool {
	return sc.unscoped || sc.allUsers || sc.users[id]
}

// label is the subject label of the handout metric for a subject the scope
// covers: its own name for the app and intents (intents are named by the
// operator, and only held ones hand out tokens), user:<id> when the key
// lists that user, else user:*. So the metric has at most, per key, one
// series per listed subject, per bound intent, plus app and user:*, however
// many users are connected.
func (sc *keyScope) label(s subjectRef, userID string) string {
	switch s.kind {
	case kindUser:
		if !sc.unscoped && !sc.allUsers && sc.users[userID] {
			return kindUser + ":" + userID
		}
		return kindUser + ":*"
	case kindIntent:
		return kindIntent + ":" + s.intent
	}
	return kindApp
}

// describe lists the scope for messages and listings.
func (sc *keyScope) describe() string {
	if sc.unscoped {
		return "any subject"
	}
	return strings.Join(sc.patterns, ", ")
}

// helixRule is one entry of APIKey.Helix: "GET /users", "GET,POST
// /chat/messages", "* /moderation". It allows the listed methods (or any,
// with *) on the path prefix, matched on whole segments and ignoring case:
// "/users" allows /helix/users and /helix/users/follows, not
// /helix/users_x. The prefix "/" allows every path.
type helixRule struct {
	methods []string // upper case; nil = any
	prefix  string   // lower case, starts with '/', no trailing '/' except the root
}

// parseHelixRule parses one Helix rule.
func parseHelixRule(s string) (helixRule, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return helixRule{}, fmt.Errorf("helix rule %q: %w", s, errHelixRule)
	}
	var r helixRule
	if f[0] != "*" {
		for _, m := range strings.Split(f[0], ",") {
			m = strings.ToUpper(strings.TrimSpace(m))
			if !slices.Contains(helixMethods, m) {
				return helixRule{}, fmt.Errorf("helix rule %q: unknown method %q (use %s or *)", s, m, strings.Join(helixMethods, ", "))
			}
			if !slices.Contains(r.methods, m) {
				r.methods = append(r.methods, m)
			}
		}
	}
	p := strings.ToLower(f[1])
	if rest, ok := strings.CutPrefix(p, "/helix"); ok && (rest == "" || rest[0] == '/') {
		p = rest
	}
	if p == "" {
		p = "/"
	}
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#%\\") {
		return helixRule{}, fmt.Errorf("helix rule %q: the path must start with / and hold no query, escape or backslash", s)
	}
	if p != "/" {
		p = strings.TrimSuffix(p, "/")
		for _, seg := range strings.Split(p[1:], "/") {
			if seg == "" || seg == "." || seg == ".." {
				return helixRule{}, fmt.Errorf("helix rule %q: the path must be clean (no empty, . or .. segments)", s)
			}
		}
	}
	r.prefix = p
	return r, nil
}

// helixMethods are the methods a Helix rule may name.
var helixMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}

func (r helixRule) String() string {
	m := "*"
	if r.methods != nil {
		m = strings.Join(r.methods, ",")
	}
	return m + " " + r.prefix
}

// allows reports whether the rule allows method on path, the request's
// path under /helix ("/users/follows"); the path was already checked clean
// (cleanHelixPath).
func (r helixRule) allows(method, path string) bool {
	if r.methods != nil && !slices.Contains(r.methods, method) {
		return false
	}
	if r.prefix == "/" {
		return true
	}
	p := strings.ToLower(path)
	return p == r.prefix || strings.HasPrefix(p, r.prefix+"/")
}
