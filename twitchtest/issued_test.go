package twitchtest_test

import (
	"net/url"
	"slices"
	"testing"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// IssuedRefreshTokens lists a grant's latest refresh tokens, newest first,
// whichever grant type issued them, and keeps at most
// MaxIssuedRefreshTokens.
func TestIssuedRefreshTokens(t *testing.T) {
	s := twitchtest.NewServer(t)
	c := s.DefaultClient()
	u, _ := s.User("viewer")
	if got := s.IssuedRefreshTokens(c.ID, u.ID); got != nil {
		t.Fatalf("before any token: %v", got)
	}
	_, rt, err := s.MintUserToken(c.ID, "viewer", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{rt}
	for range 5 {
		form := url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}
		st, body := do(t, "POST", s.IDURL()+"/token", form, nil)
		if st != 200 {
			t.Fatalf("refresh: %d %s", st, body)
		}
		rt = decode[tokenJSON](t, body).RefreshToken
		want = append([]string{rt}, want...)
	}
	want = want[:twitchtest.MaxIssuedRefreshTokens]
	if got := s.IssuedRefreshTokens(c.ID, u.ID); !slices.Equal(got, want) {
		t.Fatalf("IssuedRefreshTokens = %v, want %v (newest first)", got, want)
	}
	// Another client's grant of the same user is its own list.
	p := s.PublicClient()
	_, prt, _ := s.MintUserToken(p.ID, "viewer", nil)
	if got := s.IssuedRefreshTokens(p.ID, u.ID); !slices.Equal(got, []string{prt}) {
		t.Fatalf("public client's list = %v", got)
	}
}
