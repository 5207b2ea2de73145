package provider_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/twitchauth/twitchauth/provider"
)

// One textual form: String and ParseSubject are inverses, and the broker's
// rules for IDs and intent names are the ones ParseSubject applies.
func TestSubjectTextForm(t *testing.T) {
	for _, tc := range []struct {
		s    provider.Subject
		text string
	}{
		{provider.App(), "app"},
		{provider.User("141981764"), "user:141981764"},
		{provider.Intent("chat"), "intent:chat"},
		{provider.Intent("bot.v2-main_1"), "intent:bot.v2-main_1"},
	} {
		if got := tc.s.String(); got != tc.text {
			t.Errorf("String() = %q, want %q", got, tc.text)
		}
		back, err := provider.ParseSubject(tc.text)
		if err != nil || back != tc.s {
			t.Errorf("ParseSubject(%q) = %v, %v; want %v", tc.text, back, err, tc.s)
		}
		b, _ := json.Marshal(map[string]provider.Subject{"s": tc.s})
		var m map[string]provider.Subject
		if err := json.Unmarshal(b, &m); err != nil || m["s"] != tc.s {
			t.Errorf("JSON round trip of %v: %s → %v, %v", tc.s, b, m["s"], err)
		}
	}
	if s := provider.User("42"); s.UserID() != "42" || s.IntentName() != "" || s.IsApp() {
		t.Errorf("User(42) accessors: %q %q %v", s.UserID(), s.IntentName(), s.IsApp())
	}
	if s := provider.Intent("chat"); s.IntentName() != "chat" || s.UserID() != "" {
		t.Errorf("Intent(chat) accessors: %q %q", s.IntentName(), s.UserID())
	}
	for _, bad := range []string{"", "App", "app:", "user:", "user:abc", "user:login:twitchdev", "user:123456789012345678901",
		"intent:", "intent:has space", "intent:a:b", "intent:" + string(make([]byte, 65)), "broker:api-keys", " app"} {
		if s, err := provider.ParseSubject(bad); !errors.Is(err, provider.ErrInvalidSubject) {
			t.Errorf("ParseSubject(%q) = %v, %v; want ErrInvalidSubject", bad, s, err)
		}
	}
}

// The zero Subject names nothing: the Provider refuses it.
func TestZeroSubjectRefused(t *testing.T) {
	s := newSandbox(t)
	p := newProvider(t, confidential(s))
	if _, err := p.Token(ctx(t), provider.Subject{}); !errors.Is(err, provider.ErrInvalidSubject) {
		t.Fatalf("Token(zero) = %v, want ErrInvalidSubject", err)
	}
	if _, err := p.TokenSource(provider.Subject{}).Token(); !errors.Is(err, provider.ErrInvalidSubject) {
		t.Fatalf("TokenSource(zero).Token() = %v, want ErrInvalidSubject", err)
	}
}
