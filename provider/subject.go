package provider

import (
	"fmt"
	"strings"
)

// Subject names whose token is wanted: the application itself (App), one
// user by Twitch user ID (User), or a named intent (Intent) that points at
// a user. Its one textual form, printed by String and read by ParseSubject,
// is "app", "user:<id>" or "intent:<name>" — the form the broker's
// Twitch-Subject header, API key scopes and the CLI accept too.
//
// Subjects are comparable values (usable as map keys); the zero Subject is
// invalid.
type Subject struct {
	s string // the textual form; "" for the zero Subject
}

const (
	appText      = "app"
	userPrefix   = "user:"
	intentPrefix = "intent:"
)

// App returns the subject of the application's own (app access) token.
func App() Subject { return Subject{appText} }

// User returns the subject of the user with that Twitch user ID.
func User(id string) Subject { return Subject{userPrefix + id} }

// Intent returns the subject of the user the named intent points at.
func Intent(name string) Subject { return Subject{intentPrefix + name} }

// ParseSubject reads the textual form of a subject: "app", "user:<id>" or
// "intent:<name>". A user ID is 1 to 20 digits (Twitch user IDs are
// digits); an intent name is 1 to 64 letters, digits, '_', '.' or '-'.
// It is the one parser of this form: the broker's Twitch-Subject header
// and API key scopes (and so `twitchauth serve keys create --subject`)
// read it with ParseSubject.
func ParseSubject(text string) (Subject, error) {
	switch {
	case text == appText:
		return App(), nil
	case strings.HasPrefix(text, userPrefix):
		if !validUserID(text[len(userPrefix):]) {
			return Subject{}, fmt.Errorf("%w: %q (a user is user:<Twitch user ID>, 1 to 20 digits)", ErrInvalidSubject, text)
		}
		return Subject{text}, nil
	case strings.HasPrefix(text, intentPrefix):
		if !validIntent(text[len(intentPrefix):]) {
			return Subject{}, fmt.Errorf("%w: %q (an intent is intent:<name>, 1 to 64 letters, digits, '_', '.' or '-')", ErrInvalidSubject, text)
		}
		return Subject{text}, nil
	}
	return Subject{}, fmt.Errorf("%w: %q (a subject is app, user:<id> or intent:<name>)", ErrInvalidSubject, text)
}

func validUserID(id string) bool {
	if len(id) < 1 || len(id) > 20 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

func validIntent(name string) bool {
	if len(name) < 1 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// String returns the subject's textual form ("app", "user:<id>",
// "intent:<name>"; "" for the zero Subject).
func (s Subject) String() string { return s.s }

// IsApp reports whether s is the application's subject.
func (s Subject) IsApp() bool { return s.s == appText }

// UserID returns the user ID of a User subject, and "" for any other.
func (s Subject) UserID() string {
	id, _ := strings.CutPrefix(s.s, userPrefix)
	if id == s.s {
		return ""
	}
	return id
}

// IntentName returns the name of an Intent subject, and "" for any other.
func (s Subject) IntentName() string {
	name, _ := strings.CutPrefix(s.s, intentPrefix)
	if name == s.s {
		return ""
	}
	return name
}

// MarshalText returns String's form (for JSON and flags).
func (s Subject) MarshalText() ([]byte, error) { return []byte(s.s), nil }

// UnmarshalText reads the textual form with ParseSubject.
func (s *Subject) UnmarshalText(b []byte) error {
	v, err := ParseSubject(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// subjectOfKey returns the Subject of a grant's subject key within one
// application ("app" or "user:<id>", as store.AppKey and store.UserKey make
// them). The two forms are the same text, so no copy is made.
func subjectOfKey(key string) Subject { return Subject{key} }
