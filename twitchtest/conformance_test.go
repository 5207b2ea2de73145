package twitchtest_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// TestConformanceThirdPartyClients drives the sandbox with clients we did not
// write: golang.org/x/oauth2 for the code exchange and refresh, and
// coreos/go-oidc for discovery, ID-token verification (nonce included) and
// userinfo.
func TestConformanceThirdPartyClients(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := twitchtest.NewServer(t)
	c := s.DefaultClient()

	provider, err := oidc.NewProvider(ctx, s.IDURL()) // checks issuer == discovery base
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	ep := provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	conf := &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, Endpoint: ep, RedirectURL: "http://localhost:3000",
		Scopes: []string{oidc.ScopeOpenID, "user:read:email", "chat:read"}}

	// Browser leg through the real consent form.
	const nonce = "n-0S6_WzA2Mj"
	authURL := conf.AuthCodeURL("st4te", oidc.Nonce(nonce),
		oauth2.SetAuthURLParam("claims", `{"id_token":{"email":null,"email_verified":null},"userinfo":{"picture":null,"email":null}}`))
	b := browser(t)
	_, page := get(t, b, authURL)
	f := parseForm(t, page)
	f.fields.Set("login", "twitchdev")
	f.fields.Set("action", "authorize")
	resp, _ := postForm(t, b, f.action, f.fields)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("state") != "st4te" {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	tok, err := conf.Exchange(ctx, loc.Query().Get("code"))
	if err != nil {
		t.Fatalf("x/oauth2 exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.TokenType != "bearer" || time.Until(tok.Expiry) < 3*time.Hour {
		t.Fatalf("token: %+v", tok)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token in the code exchange")
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc verify: %v", err)
	}
	var claims struct {
		Email             string `json:"email"`
		EmailVerified     bool   `json:"email_verified"`
		PreferredUsername string `json:"preferred_username"`
		Azp               string `json:"azp"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Nonce != nonce || idt.Subject != "141981764" || idt.Issuer != s.IDURL() || claims.Email != "twitchdev@example.com" ||
		!claims.EmailVerified || claims.PreferredUsername != "TwitchDev" || claims.Azp != c.ID {
		t.Fatalf("id token: nonce %q sub %q iss %q claims %+v", idt.Nonce, idt.Subject, idt.Issuer, claims)
	}
	if d := idt.Expiry.Sub(idt.IssuedAt); d != 15*time.Minute {
		t.Errorf("id token lifetime %v, want 15m", d)
	}
	// A verifier for another audience refuses it.
	if _, err := provider.Verifier(&oidc.Config{ClientID: "someone-else"}).Verify(ctx, raw); err == nil {
		t.Error("ID token accepted for another audience")
	}

	// userinfo through go-oidc.
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var uic struct {
		Picture string `json:"picture"`
	}
	ui.Claims(&uic)
	if ui.Subject != "141981764" || ui.Email != "twitchdev@example.com" || !strings.HasPrefix(uic.Picture, "https://") {
		t.Fatalf("userinfo: %+v %+v", ui, uic)
	}

	// Refresh through x/oauth2's TokenSource: an expired token is refreshed
	// and the refresh token rotates.
	old := *tok
	old.Expiry = time.Now().Add(-time.Minute)
	nt, err := conf.TokenSource(ctx, &old).Token()
	if err != nil {
		t.Fatalf("x/oauth2 refresh: %v", err)
	}
	if nt.AccessToken == tok.AccessToken || nt.RefreshToken == tok.RefreshToken || nt.RefreshToken == "" {
		t.Fatalf("refresh did not rotate: %+v", nt)
	}
	if s.Requests("token:refresh_token") != 1 || s.Requests("token:authorization_code") != 1 {
		t.Errorf("counters: refresh %d code %d", s.Requests("token:refresh_token"), s.Requests("token:authorization_code"))
	}

	// x/oauth2's error parsing sees Twitch's error body.
	_, err = conf.Exchange(ctx, loc.Query().Get("code"))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != http.StatusBadRequest || !strings.Contains(string(re.Body), `"Invalid authorization code"`) {
		t.Fatalf("code reuse via x/oauth2: %v", err)
	}

	// Implicit OIDC: token id_token in the fragment, verifiable.
	u, err := s.Authorize(conf.AuthCodeURL("s2", oidc.Nonce("n2"), oauth2.SetAuthURLParam("response_type", "token id_token")), "twitchdev")
	if err != nil {
		t.Fatal(err)
	}
	frag, _ := url.ParseQuery(u.EscapedFragment())
	idt2, err := provider.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, frag.Get("id_token"))
	if err != nil || idt2.Nonce != "n2" || frag.Get("access_token") == "" {
		t.Fatalf("implicit id_token: %v %+v", err, frag)
	}
}
