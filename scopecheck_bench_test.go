package twitchauth_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
)

type staticRT struct{}

func (staticRT) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"data":[]}`)), Request: r}, nil
}

// The cost of the scope check on the Transport's path, side by side with
// the same Transport without it (TransportConfig.NoScopeCheck, the anchor): a Get
// Moderators call (moderation:read or channel:manage:moderators) by a user
// whose grant has the second, answered in memory so that only the
// Transport's own work is measured.
func BenchmarkScopeCheck(b *testing.B) {
	s := newSandbox(b)
	cfg := confidential(s)
	cfg.Logger = nil
	p, err := provider.New(b.Context(), provider.Config{OAuth: cfg})
	if err != nil {
		b.Fatal(err)
	}
	bc, _ := s.User("broadcaster")
	access, refresh, err := s.MintUserToken(cfg.ClientID, "broadcaster", []string{"chat:read", "channel:manage:moderators"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.AddUserToken(b.Context(), &twitchauth.Token{AccessToken: access, RefreshToken: refresh}); err != nil {
		b.Fatal(err)
	}
	url := cfg.APIBaseURL() + "/moderation/moderators?broadcaster_id=" + bc.ID
	for _, c := range []struct {
		name string
		opts []trOption
	}{
		{"check", nil},
		{"nocheck", []trOption{withoutScopeCheck()}},
	} {
		b.Run(c.name, func(b *testing.B) {
			t := newTransport(cfg, p.TokenSource(provider.User(bc.ID)), append([]trOption{withBase(staticRT{}), withoutPacing()}, c.opts...)...)
			req, _ := http.NewRequest("GET", url, nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := t.RoundTrip(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatal(resp, err)
				}
				resp.Body.Close()
			}
		})
	}
}
