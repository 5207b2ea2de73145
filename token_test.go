package twitchauth_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth"
)

func TestTokenOAuth2RoundTrip(t *testing.T) {
	tok := &twitchauth.Token{
		AccessToken: "acc-0123456789", RefreshToken: "ref-0123456789", TokenType: "bearer",
		Expiry: time.Now().Add(time.Hour).Round(0), Scopes: []string{"chat:read", "chat:edit"},
		UserID: "141981764", Login: "twitchdev", ClientID: "cid", IDToken: "a.b.c",
	}
	leaks.Secret(tok.AccessToken, tok.RefreshToken)
	o := tok.OAuth2()
	if o.AccessToken != tok.AccessToken || o.RefreshToken != tok.RefreshToken || !o.Expiry.Equal(tok.Expiry) || o.Type() != "Bearer" || !o.Valid() {
		t.Fatalf("oauth2 token %+v", o)
	}
	back := twitchauth.FromOAuth2(o)
	if fmt.Sprintf("%#v", *back) != fmt.Sprintf("%#v", *tok) || back.AccessToken != tok.AccessToken || back.RefreshToken != tok.RefreshToken ||
		back.IDToken != tok.IDToken || !slices.Equal(back.Scopes, tok.Scopes) || back.UserID != tok.UserID || back.Login != tok.Login ||
		back.ClientID != tok.ClientID || !back.Expiry.Equal(tok.Expiry) {
		t.Fatalf("round trip lost data: %v", back)
	}
	if twitchauth.FromOAuth2(nil) != nil {
		t.Fatal("FromOAuth2(nil)")
	}
	tok.Scopes[0] = "changed"
	if twitchauth.FromOAuth2(o).Scopes[0] != "chat:read" {
		t.Fatal("OAuth2 shares the scopes slice")
	}
}

// TestFromOAuth2Fetched converts a token fetched by x/oauth2 itself from the
// sandbox: the scope array of the raw response must survive.
func TestFromOAuth2Fetched(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	access, refresh, err := s.MintUserToken(cfg.ClientID, "twitchdev", []string{"chat:read", "chat:edit"})
	if err != nil {
		t.Fatal(err)
	}
	leaks.Secret(access, refresh)
	oc := &oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: s.IDURL() + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	c := context.WithValue(ctx(t), oauth2.HTTPClient, &http.Client{Timeout: 10 * time.Second})
	o, err := oc.TokenSource(c, &oauth2.Token{RefreshToken: refresh}).Token()
	if err != nil {
		t.Fatal(err)
	}
	tok := checkToken(t, twitchauth.FromOAuth2(o), nil)
	if !slices.Equal(tok.Scopes, []string{"chat:read", "chat:edit"}) || tok.RefreshToken == "" {
		t.Fatalf("%v", tok)
	}
	if err := cfg.Identify(ctx(t), tok); err != nil || tok.Login != "twitchdev" {
		t.Fatalf("identify: %v %v", tok, err)
	}
}

func TestTokenRedaction(t *testing.T) {
	tok := twitchauth.Token{AccessToken: "ACCESSSECRET123", RefreshToken: "REFRESHSECRET123", IDToken: "IDTOKENSECRET123",
		Login: "twitchdev", UserID: "1", Scopes: []string{"chat:read"}, Expiry: time.Unix(1e9, 0)}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("token", "tok", tok, "ptr", &tok)
	for _, out := range []string{tok.String(), fmt.Sprintf("%v %+v %#v %s", tok, &tok, tok, &tok), logs.String()} {
		if strings.Contains(out, "SECRET") {
			t.Fatalf("token printed: %s", out)
		}
		if !strings.Contains(out, "twitchdev") {
			t.Fatalf("identity missing: %s", out)
		}
	}
	if !tok.HasScope("chat:read") || tok.HasScope("chat:edit") {
		t.Fatal("HasScope")
	}
}
